// A tls {} block (nats-server 2.9.10's TLSConfigOpts), as read from the config file or flags.
// Plain data: options.h includes it everywhere, so it stays free of OpenSSL.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace osprey::transport {

struct TlsConfig {
    std::string cert_file, key_file, ca_file;
    bool verify = false;          // a client certificate is required and checked
    bool verify_and_map = false;  // ... and its subject or SAN names the user
    bool insecure = false;        // accepted; only meaningful for outgoing connections
    std::int64_t timeout_ms = 2000;  // handshake (nats-server's TLS_TIMEOUT, 2 s; 0.5 in config = 500)
    std::vector<std::string> cipher_suites;      // Go names (TLS_ECDHE_..._SHA256)
    std::vector<std::string> curve_preferences;  // Go names (X25519, CurveP256, ...)
    std::string min_version;                     // "1.2" (default) or "1.3"
    bool configured() const { return !cert_file.empty() || !key_file.empty(); }
};

}  // namespace osprey::transport
