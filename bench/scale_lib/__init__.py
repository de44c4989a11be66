"""Helpers for bench/scale: a raw NATS client and server process handling."""
