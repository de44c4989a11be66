"""A minimal, dependency-free NATS client: INFO/CONNECT/PING/PONG, SUB, PUB, MSG/HMSG parsing,
request/reply on a unique inbox, and a pipelined JetStream publisher. Every wait is bounded."""
import json, os, select, socket, time


class NatsError(Exception):
    pass


class Timeout(NatsError):
    pass


class NoResponders(NatsError):
    pass


class Conn:
    def __init__(self, host, port, timeout=5.0, name="osprey-scale"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.buf = bytearray()
        self.pos = 0
        self.pongs = 0
        deadline = time.monotonic() + timeout
        line = self._read_line(deadline)
        if not line.startswith(b"INFO "):
            raise NatsError(f"expected INFO, got {line[:80]!r}")
        self.info = json.loads(line[5:])
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                "protocol": 1, "name": name, "lang": "python-raw", "version": "0"}
        self.inbox = "_INBOX." + os.urandom(8).hex()
        self.sock.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\nSUB " +
                          self.inbox.encode() + b".* 1\r\nPING\r\n")
        self._wait_pong(deadline)
        self.req_id = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- reading ---------------------------------------------------------------------------
    def _fill(self, deadline):
        """Reads more bytes into the buffer, waiting at most until `deadline`."""
        if self.pos > 1 << 20 or self.pos == len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("timed out")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise Timeout("timed out")
        data = self.sock.recv(1 << 20)
        if not data:
            raise NatsError("connection closed by server")
        self.buf += data

    def _read_line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill(deadline)

    def _frames(self):
        """Yields the complete frames in the buffer: ('MSG', subject, reply, headers, payload)
        for MSG/HMSG; answers PING; counts PONG; raises on -ERR. Leaves partial frames."""
        buf = self.buf
        while True:
            pos = self.pos
            i = buf.find(b"\r\n", pos)
            if i < 0:
                return
            op = buf[pos:pos + 4]
            if op == b"MSG " or op == b"HMSG":
                parts = bytes(buf[pos:i]).split(b" ")
                hmsg = op == b"HMSG"
                total = int(parts[-1])
                hlen = int(parts[-2]) if hmsg else 0
                nargs = len(parts) - (1 if hmsg else 0)
                reply = parts[3] if nargs == 5 else None
                end = i + 2 + total
                if len(buf) < end + 2:
                    return
                hdr = bytes(buf[i + 2:i + 2 + hlen]) if hmsg else None
                payload = bytes(buf[i + 2 + hlen:end])
                self.pos = end + 2
                yield parts[1], reply, hdr, payload
                continue
            line = bytes(buf[pos:i])
            self.pos = i + 2
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line == b"PONG":
                self.pongs += 1
            elif line.startswith(b"-ERR"):
                raise NatsError(line.decode(errors="replace"))
            # +OK and INFO are ignored

    def _wait_pong(self, deadline):
        target = self.pongs + 1
        while True:
            for _ in self._frames():
                pass
            if self.pongs >= target:
                return
            self._fill(deadline)

    def flush(self, timeout=5.0):
        self.sock.sendall(b"PING\r\n")
        self._wait_pong(time.monotonic() + timeout)

    # -- request/reply ---------------------------------------------------------------------
    def request(self, subject, payload=b"", timeout=5.0):
        """Sends a request and returns the reply's payload (bytes). Raises Timeout, NoResponders."""
        if isinstance(payload, str):
            payload = payload.encode()
        self.req_id += 1
        reply = f"{self.inbox}.{self.req_id}".encode()
        self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply, len(payload), payload))
        deadline = time.monotonic() + timeout
        while True:
            for subj, _, hdr, data in self._frames():
                if subj == reply:
                    if hdr is not None and hdr.startswith(b"NATS/1.0 503"):
                        raise NoResponders(subject)
                    return data
            self._fill(deadline)

    def request_json(self, subject, body=None, timeout=5.0):
        data = self.request(subject, b"" if body is None else json.dumps(body).encode(), timeout)
        return json.loads(data)

    # -- pipelined JetStream publish ---------------------------------------------------------
    def publish_pipelined(self, frame_for, count, window=1000, chunk=200, timeout=300.0):
        """Publishes `count` messages with acks, at most `window` unacknowledged.
        `frame_for(j, reply)` returns message j's complete PUB frame (bytes) for the reply
        subject `reply`. Returns (acked_ok, ack_errors, elapsed_s, complete)."""
        reply = (self.inbox + ".ack").encode()
        # one reply subject for every message: acks are only counted
        sent = ok = errs = 0
        t0 = time.monotonic()
        deadline = t0 + timeout
        sock = self.sock
        done = True
        while ok + errs < count:
            inflight = sent - ok - errs
            if sent < count and inflight < window:
                n = min(chunk, window - inflight, count - sent)
                sock.sendall(b"".join(frame_for(j, reply) for j in range(sent, sent + n)))
                sent += n
                # take whatever acks are already here without waiting
                r, _, _ = select.select([sock], [], [], 0)
                if not r:
                    continue
            try:
                self._fill(min(deadline, time.monotonic() + 30.0))
            except Timeout:
                done = False
                break
            for subj, _, hdr, data in self._frames():
                if subj == reply:
                    if b'"error"' in data or hdr is not None:
                        errs += 1
                    else:
                        ok += 1
            if time.monotonic() > deadline:
                done = False
                break
        return ok, errs, time.monotonic() - t0, done
