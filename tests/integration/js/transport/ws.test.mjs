// NATS over WebSocket: nats.ws (in node, on the `ws` package) over ws:// and wss://, with TCP
// nats.js clients on the same server; JetStream and KV over ws; websocket authorization
// overrides; permessage-deflate; Origin checks; bad handshakes and bad frames written by hand
// on a raw socket; ping/pong and close.
// Every expectation here was observed with nats-server 2.9.10 (exact HTTP status lines and
// bodies, close codes and reasons).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants as zlibConstants, inflateRawSync } from "node:zlib";
import WebSocket from "ws";
import { connect, ErrorCode, Events, StringCodec, headers } from "nats";
import { startServer, writeConfig, freePort } from "../server.mjs";
import { generateCerts } from "./certs.mjs";
import { WAIT_MS, bounded, sleep, waitFor, waitForPort, rawSocket, parseInfo } from "./helpers.mjs";

// nats.ws wants a W3C WebSocket global (node 20 has none): the `ws` package's class is one
// (onopen/onmessage/binaryType "arraybuffer"). nats.ws reads the global at connect time.
globalThis.WebSocket = WebSocket;
const nws = await import("nats.ws");

const sc = StringCodec();
const B64_KEY = "dGhlIHNhbXBsZSBub25jZQ=="; // RFC 6455's sample key
const B64_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; // and its Sec-WebSocket-Accept

// A server with a websocket listener on loopback. `ws`: more lines of the websocket block;
// `top`: top-level config; `args`: more command line arguments.
async function startWs({ ws = "", top = "", args = [], tlsWs = false } = {}) {
  const wsPort = await freePort();
  const cfg = writeConfig(`${top}
websocket {
  host: 127.0.0.1
  port: ${wsPort}
${tlsWs ? "" : "  no_tls: true\n"}${ws}
}
`);
  const srv = await startServer(["-c", cfg, ...args]);
  try {
    await waitForPort(wsPort);
  } catch (e) {
    await srv.stop();
    throw e;
  }
  srv.wsPort = wsPort;
  srv.wsUrl = `ws://127.0.0.1:${wsPort}`;
  return srv;
}

async function withWs(opts, fn) {
  const srv = await startWs(opts);
  try {
    return await fn(srv);
  } finally {
    await srv.stop();
  }
}

// Error events of a connection (async errors such as permission violations): nats.js 2.x and
// nats.ws report the error code.
function errorsOf(nc) {
  const errors = [];
  (async () => {
    for await (const s of nc.status()) if (s.type === Events.Error) errors.push(s.data?.code ?? String(s.data));
  })().catch(() => {});
  return errors;
}

const once = { reconnect: false, timeout: 5000 };

// ---- raw HTTP/WebSocket on a socket ----

function upgradeRequest(port, { method = "GET", path = "/", key = B64_KEY, version = "13", upgrade = "websocket",
  connection = "Upgrade", extra = [] } = {}) {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  if (upgrade !== null) lines.push(`Upgrade: ${upgrade}`);
  if (connection !== null) lines.push(`Connection: ${connection}`);
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  lines.push(...extra);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

// Sends an upgrade request; resolves with the HTTP response head, the body (by
// Content-Length) and the raw socket state (for the frames after a 101).
async function handshake(port, opts = {}) {
  const r = rawSocket(port);
  await bounded(r.connected, WAIT_MS, "connect");
  r.socket.write(typeof opts === "string" ? opts : upgradeRequest(port, opts));
  await r.until(/\r\n\r\n/);
  const text = r.text();
  const headEnd = text.indexOf("\r\n\r\n");
  const [statusLine, ...headerLines] = text.slice(0, headEnd).split("\r\n");
  const hdrs = {};
  for (const l of headerLines) {
    const i = l.indexOf(":");
    hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const bodyStart = headEnd + 4;
  let body = "";
  if (hdrs["content-length"] !== undefined) {
    const n = Number(hdrs["content-length"]);
    await waitFor(`a ${n} byte body`, () => r.data.length >= bodyStart + n, 3000, 10);
    body = r.data.subarray(bodyStart, bodyStart + n).toString();
  }
  return { statusLine, headers: hdrs, headerLines, body, raw: r, framesAt: bodyStart };
}

// A client frame (masked unless mask: false).
function frame(op, payload = "", { mask = true, fin = true, rsv = 0 } = {}) {
  const p = Buffer.from(payload);
  const b0 = (fin ? 0x80 : 0) | rsv | op;
  let head;
  if (p.length <= 125) head = Buffer.from([b0, (mask ? 0x80 : 0) | p.length]);
  else if (p.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = b0; head[1] = (mask ? 0x80 : 0) | 126; head.writeUInt16BE(p.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0; head[1] = (mask ? 0x80 : 0) | 127; head.writeBigUInt64BE(BigInt(p.length), 2);
  }
  if (!mask) return Buffer.concat([head, p]);
  const key = randomBytes(4);
  for (let i = 0; i < p.length; i++) p[i] ^= key[i & 3];
  return Buffer.concat([head, key, p]);
}

const closePayload = (status, reason = "") => Buffer.concat([Buffer.from([status >> 8, status & 0xff]), Buffer.from(reason)]);

// Server frames from buf (complete ones only). Server frames must not be masked.
function parseFrames(buf) {
  const frames = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const b0 = buf[i];
    const b1 = buf[i + 1];
    let len = b1 & 0x7f;
    let j = i + 2;
    if (len === 126) { if (j + 2 > buf.length) break; len = buf.readUInt16BE(j); j += 2; }
    else if (len === 127) { if (j + 8 > buf.length) break; len = Number(buf.readBigUInt64BE(j)); j += 8; }
    const masked = (b1 & 0x80) !== 0;
    if (masked) j += 4;
    if (j + len > buf.length) break;
    const payload = Buffer.from(buf.subarray(j, j + len));
    if (masked) for (let k = 0; k < len; k++) payload[k] ^= buf[j - 4 + (k & 3)];
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, op: b0 & 0x0f, masked, payload });
    i = j + len;
  }
  return frames;
}

// Reassembles data messages (with continuation frames), inflating compressed ones
// (permessage-deflate, RFC 7692: append 00 00 ff ff).
function messagesOf(frames) {
  const out = [];
  let cur = null;
  for (const f of frames) {
    if (f.op >= 8) continue;
    if (f.op !== 0) cur = { op: f.op, compressed: f.rsv1, parts: [] };
    cur.parts.push(f.payload);
    if (f.fin) {
      let data = Buffer.concat(cur.parts);
      if (cur.compressed) {
        data = inflateRawSync(Buffer.concat([data, Buffer.from([0x00, 0x00, 0xff, 0xff])]),
          { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      }
      out.push({ op: cur.op, compressed: cur.compressed, data });
      cur = null;
    }
  }
  return out;
}

// A raw WebSocket session after a good handshake: the INFO frame read, then frames() parses
// whatever came after it.
async function wsSession(port, opts = {}) {
  const h = await handshake(port, opts);
  assert.equal(h.statusLine, "HTTP/1.1 101 Switching Protocols", h.raw.text());
  const framesNow = () => parseFrames(h.raw.data.subarray(h.framesAt));
  await waitFor("the INFO frame", () => messagesOf(framesNow()).length >= 1, 3000, 10);
  const info = messagesOf(framesNow())[0];
  const infoFrames = framesNow().length;
  return {
    ...h,
    info,
    send: (b) => h.raw.socket.write(b),
    // Frames after the INFO message.
    frames: () => framesNow().slice(infoFrames),
    text: () => messagesOf(framesNow().slice(infoFrames)).map((m) => m.data.toString()).join(""),
    ended: h.raw.ended,
    destroy: () => h.raw.destroy(),
  };
}

// After a frame the server must reject: nats-server enqueues a close frame with status 1002
// and a reason, then closes the TCP connection. (nats-server 2.9.10 races the close frame
// against the socket close, so sometimes the connection ends without it: the close frame is
// checked when it comes. It must be the only frame.)
async function expectProtocolClose(s, reason) {
  const end = await bounded(s.ended, 5000, `the server to close after ${reason}`);
  assert.ok(end.how === "end" || end.error?.code === "ECONNRESET", JSON.stringify(end));
  const frames = s.frames();
  assert.ok(frames.length <= 1, `at most the close frame: ${JSON.stringify(frames.map((f) => [f.op, f.payload.toString()]))}`);
  if (frames.length === 1) {
    assert.equal(frames[0].op, 8, "a close frame");
    assert.equal(frames[0].payload.readUInt16BE(0), 1002);
    assert.equal(frames[0].payload.subarray(2).toString(), reason);
  }
}

// The server still serves: a nats.ws client connects and round-trips a message.
async function stillServes(srv) {
  const nc = await nws.connect({ servers: srv.wsUrl, ...once });
  try {
    const sub = nc.subscribe("alive", { max: 1 });
    nc.publish("alive", sc.encode("yes"));
    for await (const m of sub) assert.equal(sc.decode(m.data), "yes");
  } finally {
    await nc.close();
  }
}

describe("WebSocket: nats.ws clients", () => {
  test("nats.ws over ws://: pub/sub/request with headers, to and from a TCP nats.js client", async () => {
    await withWs({}, async (srv) => {
      const w = await nws.connect({ servers: srv.wsUrl, ...once });
      const t = await connect({ servers: srv.url, ...once });
      try {
        assert.equal(w.info.headers, true);
        assert.equal(w.info.tls_required, undefined, "no tls_required in the INFO of a plain ws connection");
        // A ws responder answers a TCP requester, with headers both ways.
        w.subscribe("svc.ws", {
          callback: (_e, m) => {
            const h = nws.headers();
            h.set("X-Seen", m.headers?.get("X-Req") ?? "none");
            m.respond(sc.encode(`ws:${sc.decode(m.data)}`), { headers: h });
          },
        });
        // A TCP responder answers a ws requester.
        t.subscribe("svc.tcp", {
          callback: (_e, m) => {
            const h = headers();
            h.set("X-Seen", m.headers?.get("X-Req") ?? "none");
            m.respond(sc.encode(`tcp:${sc.decode(m.data)}`), { headers: h });
          },
        });
        await Promise.all([w.flush(), t.flush()]);
        const h1 = headers();
        h1.set("X-Req", "from-tcp");
        const r1 = await t.request("svc.ws", sc.encode("a"), { timeout: 3000, headers: h1 });
        assert.equal(sc.decode(r1.data), "ws:a");
        assert.equal(r1.headers.get("X-Seen"), "from-tcp");
        const h2 = nws.headers();
        h2.set("X-Req", "from-ws");
        const r2 = await w.request("svc.tcp", sc.encode("b"), { timeout: 3000, headers: h2 });
        assert.equal(sc.decode(r2.data), "tcp:b");
        assert.equal(r2.headers.get("X-Seen"), "from-ws");

        // Plain messages both ways, with a header.
        const atWs = [];
        const atTcp = [];
        w.subscribe("to.ws", { callback: (_e, m) => atWs.push([sc.decode(m.data), m.headers?.get("X-N")]) });
        t.subscribe("to.tcp", { callback: (_e, m) => atTcp.push([sc.decode(m.data), m.headers?.get("X-N")]) });
        await Promise.all([w.flush(), t.flush()]);
        for (let i = 0; i < 3; i++) {
          const ht = headers();
          ht.set("X-N", String(i));
          t.publish("to.ws", sc.encode(`t${i}`), { headers: ht });
          const hw = nws.headers();
          hw.set("X-N", String(i));
          w.publish("to.tcp", sc.encode(`w${i}`), { headers: hw });
        }
        await waitFor("3 messages each way", () => atWs.length === 3 && atTcp.length === 3, 3000);
        assert.deepEqual(atWs, [["t0", "0"], ["t1", "1"], ["t2", "2"]]);
        assert.deepEqual(atTcp, [["w0", "0"], ["w1", "1"], ["w2", "2"]]);
      } finally {
        await Promise.all([w.close(), t.close()]);
      }
    });
  });

  test("JetStream over ws: stream, publish, pull consumer fetch; KV put and a watch that sees the updates", async () => {
    const dir = mkdtempSync(join(tmpdir(), "osprey-ws-js-"));
    try {
      await withWs({ args: ["-js", "-sd", dir] }, async (srv) => {
        const nc = await nws.connect({ servers: srv.wsUrl, ...once });
        try {
          const jsm = await nc.jetstreamManager();
          await jsm.streams.add({ name: "WSORDERS", subjects: ["wsorders.>"] });
          const js = nc.jetstream();
          for (let i = 1; i <= 3; i++) {
            const pa = await js.publish(`wsorders.${i}`, sc.encode(`order ${i}`));
            assert.equal(pa.stream, "WSORDERS");
            assert.equal(pa.seq, i);
          }
          await jsm.consumers.add("WSORDERS", { durable_name: "worker", ack_policy: nws.AckPolicy.Explicit });
          const consumer = await js.consumers.get("WSORDERS", "worker");
          const fetched = [];
          const iter = await consumer.fetch({ max_messages: 3, expires: 3000 });
          for await (const m of iter) {
            fetched.push([m.seq, m.subject, sc.decode(m.data)]);
            m.ack();
          }
          assert.deepEqual(fetched, [[1, "wsorders.1", "order 1"], [2, "wsorders.2", "order 2"], [3, "wsorders.3", "order 3"]]);
          await nc.flush();
          const ci = await waitFor("the acks to land", async () => {
            const ci = await jsm.consumers.info("WSORDERS", "worker");
            return ci.ack_floor.stream_seq === 3 && ci;
          }, 5000, 100);
          assert.equal(ci.num_ack_pending, 0);

          const kv = await js.views.kv("wscfg");
          const watch = await kv.watch();
          const seen = [];
          (async () => { for await (const e of watch) seen.push([e.key, e.operation, sc.decode(e.value)]); })().catch(() => {});
          // One update at a time, each awaited in the watch (puts racing the watch's start
          // can be folded into the initial "last value" by the client library).
          const expectSeen = (n) => waitFor(() => `${n} watch updates; saw ${JSON.stringify(seen)}`, () => seen.length >= n, 5000);
          await kv.put("color", sc.encode("blue"));
          await expectSeen(1);
          await kv.put("color", sc.encode("green"));
          await expectSeen(2);
          await kv.delete("color");
          await expectSeen(3);
          // A TCP client's put is seen too.
          const t = await connect({ servers: srv.url, ...once });
          try {
            const tkv = await t.jetstream().views.kv("wscfg");
            await tkv.put("size", sc.encode("xl"));
          } finally {
            await t.close();
          }
          await expectSeen(4);
          assert.deepEqual(seen, [["color", "PUT", "blue"], ["color", "PUT", "green"], ["color", "DEL", ""], ["size", "PUT", "xl"]]);
          watch.stop();
          assert.equal(sc.decode((await kv.get("size")).value), "xl");
        } finally {
          await nc.close();
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("WebSocket: authorization", () => {
  test("websocket authorization { token } overrides the top-level token; TCP keeps the top-level one", async () => {
    await withWs({ top: 'authorization { token: "tcp-secret" }', ws: '  authorization { token: "ws-secret" }' }, async (srv) => {
      const w = await nws.connect({ servers: srv.wsUrl, token: "ws-secret", ...once });
      await w.flush();
      await w.close();
      for (const token of ["tcp-secret", undefined]) {
        await assert.rejects(nws.connect({ servers: srv.wsUrl, token, ...once }), (e) => {
          assert.equal(e.code, ErrorCode.AuthorizationViolation, `${e.code}: ${e.message}`);
          return true;
        });
      }
      const t = await connect({ servers: srv.url, token: "tcp-secret", ...once });
      await t.close();
      await assert.rejects(connect({ servers: srv.url, token: "ws-secret", ...once }), (e) => {
        assert.equal(e.code, ErrorCode.AuthorizationViolation);
        return true;
      });
    });
  });

  const usersTop = `authorization {
  users: [
    {user: app, password: pw, permissions: {publish: "app.>", subscribe: ["app.>", "_INBOX.>"]}}
    {user: guest, password: gpw, permissions: {publish: "public.>", subscribe: ["public.>", "_INBOX.>"]}}
  ]
}`;

  // Publishes `allowed` (must loop back) and `denied` (must be a permissions violation).
  async function checkPerms(nc, allowed, denied) {
    const errors = errorsOf(nc);
    const got = [];
    nc.subscribe(allowed, { callback: (_e, m) => got.push(m.subject) });
    await nc.flush();
    nc.publish(allowed, sc.encode("ok"));
    nc.publish(denied, sc.encode("no"));
    await nc.flush();
    await waitFor(`the message on ${allowed}`, () => got.length === 1, 3000);
    await waitFor(`a permissions violation; errors ${JSON.stringify(errors)}`, () => errors.length > 0, 3000);
    assert.deepEqual(errors, [ErrorCode.PermissionsViolation]);
    assert.equal(nc.isClosed(), false);
  }

  test("websocket no_auth_user: a ws client without credentials is that user, with its permissions; TCP is refused", async () => {
    await withWs({ top: usersTop, ws: "  no_auth_user: guest" }, async (srv) => {
      const g = await nws.connect({ servers: srv.wsUrl, ...once });
      try {
        await checkPerms(g, "public.news", "app.x");
      } finally {
        await g.close();
      }
      await assert.rejects(connect({ servers: srv.url, ...once }), (e) => {
        assert.equal(e.code, ErrorCode.AuthorizationViolation);
        return true;
      });
    });
  });

  test("users and permissions apply over ws as over TCP (the same -ERR on the wire)", async () => {
    await withWs({ top: usersTop, ws: "  no_auth_user: guest" }, async (srv) => {
      const w = await nws.connect({ servers: srv.wsUrl, user: "app", pass: "pw", ...once });
      const t = await connect({ servers: srv.url, user: "app", pass: "pw", ...once });
      try {
        await checkPerms(w, "app.ws", "other.ws");
        await checkPerms(t, "app.tcp", "other.tcp");
        // A subscription outside the allowed subjects ends with the server's error.
        const sub = w.subscribe("other.y");
        await assert.rejects(bounded((async () => { for await (const _m of sub) { /* none */ } })(), 5000, "sub error"), (e) => {
          assert.equal(e.code, ErrorCode.PermissionsViolation);
          assert.equal(e.message, "'Permissions Violation for Subscription to \"other.y\"'");
          return true;
        });
      } finally {
        await Promise.all([w.close(), t.close()]);
      }
      await assert.rejects(nws.connect({ servers: srv.wsUrl, user: "app", pass: "wrong", ...once }), (e) => {
        assert.equal(e.code, ErrorCode.AuthorizationViolation);
        return true;
      });
      // On the wire, in ws frames: the -ERR line, then PONG.
      const s = await wsSession(srv.wsPort);
      try {
        s.send(frame(2, 'CONNECT {"verbose":false,"pedantic":false,"protocol":1,"user":"app","pass":"pw"}\r\nPUB other.raw 2\r\nno\r\nPING\r\n'));
        await waitFor(() => `PONG in ${JSON.stringify(s.text())}`, () => s.text().includes("PONG\r\n"), 3000, 10);
        assert.equal(s.text(), "-ERR 'Permissions Violation for Publish to \"other.raw\"'\r\nPONG\r\n");
      } finally {
        s.destroy();
      }
    });
  });

  test("accounts isolate ws and TCP clients as they isolate TCP clients", async () => {
    const top = "accounts {\n  A: { users: [{user: a, password: a}] }\n  B: { users: [{user: b, password: b}] }\n}";
    await withWs({ top }, async (srv) => {
      const wa = await nws.connect({ servers: srv.wsUrl, user: "a", pass: "a", ...once });
      const ta = await connect({ servers: srv.url, user: "a", pass: "a", ...once });
      const tb = await connect({ servers: srv.url, user: "b", pass: "b", ...once });
      try {
        const gotA = [];
        const gotB = [];
        ta.subscribe("x", { callback: (_e, m) => gotA.push(sc.decode(m.data)) });
        tb.subscribe("x", { callback: (_e, m) => gotB.push(sc.decode(m.data)) });
        await Promise.all([ta.flush(), tb.flush()]);
        wa.publish("x", sc.encode("from ws in A"));
        await wa.flush();
        await waitFor("the message in account A", () => gotA.length === 1, 3000);
        await sleep(100);
        assert.deepEqual(gotA, ["from ws in A"]);
        assert.deepEqual(gotB, []);
      } finally {
        await Promise.all([wa.close(), ta.close(), tb.close()]);
      }
    });
  });
});

describe("WebSocket: compression", () => {
  test("compression: true: a client offering permessage-deflate gets it; one that does not, does not", async () => {
    await withWs({ ws: "  compression: true" }, async (srv) => {
      const offer = await handshake(srv.wsPort, { extra: ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"] });
      offer.raw.destroy();
      assert.equal(offer.statusLine, "HTTP/1.1 101 Switching Protocols");
      assert.equal(offer.headers["sec-websocket-extensions"], "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
      const plain = await handshake(srv.wsPort);
      plain.raw.destroy();
      assert.equal(plain.statusLine, "HTTP/1.1 101 Switching Protocols");
      assert.equal(plain.headers["sec-websocket-extensions"], undefined);

      // The ws package (which nats.ws uses here) negotiates it.
      const ws = new WebSocket(srv.wsUrl, { perMessageDeflate: true });
      try {
        let res;
        ws.once("upgrade", (r) => { res = r; });
        await bounded(new Promise((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
        }), WAIT_MS, "ws open");
        assert.equal(res.headers["sec-websocket-extensions"], "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        assert.equal(ws.extensions, "permessage-deflate");
      } finally {
        ws.terminate();
      }
    });
  });

  test("compression: true: a 100 KB payload round-trips through nats.ws and TCP; the server's frames are deflated", async () => {
    await withWs({ ws: "  compression: true" }, async (srv) => {
      const big = Buffer.alloc(100 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
      const w = await nws.connect({ servers: srv.wsUrl, ...once });
      const t = await connect({ servers: srv.url, ...once });
      try {
        w.subscribe("big.ws", { callback: (_e, m) => m.respond(m.data) });
        t.subscribe("big.tcp", { callback: (_e, m) => m.respond(m.data) });
        await Promise.all([w.flush(), t.flush()]);
        const r1 = await w.request("big.ws", big, { timeout: 5000 });
        assert.ok(Buffer.from(r1.data).equals(big), "ws -> ws");
        const r2 = await t.request("big.ws", big, { timeout: 5000 });
        assert.ok(Buffer.from(r2.data).equals(big), "tcp -> ws -> tcp");
        const r3 = await w.request("big.tcp", big, { timeout: 5000 });
        assert.ok(Buffer.from(r3.data).equals(big), "ws -> tcp -> ws");
      } finally {
        await Promise.all([w.close(), t.close()]);
      }

      // Raw: the MSG with the 100 KB payload comes in compressed (RSV1) frames that inflate to it.
      const s = await wsSession(srv.wsPort, { extra: ["Sec-WebSocket-Extensions: permessage-deflate"] });
      try {
        const text = Buffer.from("x".repeat(100 * 1024));
        s.send(frame(2, Buffer.concat([
          Buffer.from(`CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nSUB big 1\r\nPUB big ${text.length}\r\n`),
          text, Buffer.from("\r\nPING\r\n")])));
        await waitFor("PONG after the MSG", () => s.text().includes("PONG\r\n"), 5000, 10);
        const msgs = messagesOf(s.frames());
        const all = Buffer.concat(msgs.map((m) => m.data)).toString();
        assert.equal(all, `MSG big 1 ${text.length}\r\n${text}\r\nPONG\r\n`);
        const bigMsg = msgs.find((m) => m.data.length > 50_000);
        assert.ok(bigMsg?.compressed, "the 100 KB message was sent deflated");
        const wire = s.frames().filter((f) => f.op !== 8).reduce((n, f) => n + f.payload.length, 0);
        assert.ok(wire < 20_000, `deflated on the wire: ${wire} bytes`);
      } finally {
        s.destroy();
      }
    });
  });
});

describe("WebSocket: Origin checks", () => {
  // nats-server answers a refused Origin with Go's http.Error: 403, text/plain, "Forbidden\n".
  function assertForbidden(h) {
    assert.equal(h.statusLine, "HTTP/1.1 403 Forbidden", h.raw.text());
    assert.equal(h.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(h.headers["sec-websocket-version"], "13");
    assert.equal(h.body, "Forbidden\n");
    assert.equal(h.headers["content-length"], "10");
  }
  function assertUpgraded(h) {
    assert.equal(h.statusLine, "HTTP/1.1 101 Switching Protocols", h.raw.text());
    assert.equal(h.headers["sec-websocket-accept"], B64_ACCEPT);
  }

  test('allowed_origins ["http://good.example"]: only that scheme://host:port; no Origin header is accepted', async () => {
    await withWs({ ws: '  allowed_origins: ["http://good.example"]' }, async (srv) => {
      const cases = [
        ["Origin: http://evil.example", false],
        ["Origin: http://good.example", true],
        ["Origin: http://good.example:80", true],
        ["Origin: https://good.example", false],
        ["Origin: http://good.example:8080", false],
        [null, true],
      ];
      for (const [origin, ok] of cases) {
        const h = await handshake(srv.wsPort, { extra: origin ? [origin] : [] });
        h.raw.destroy();
        try {
          if (ok) assertUpgraded(h); else assertForbidden(h);
        } catch (e) {
          e.message = `${origin ?? "no Origin"}: ${e.message}`;
          throw e;
        }
      }
      // The ws package sees the 403 as an unexpected response.
      const ws = new WebSocket(srv.wsUrl, { origin: "http://evil.example" });
      const err = await bounded(new Promise((resolve) => { ws.once("error", resolve); ws.once("open", () => resolve(null)); }),
        WAIT_MS, "ws error");
      ws.terminate();
      assert.match(String(err?.message), /Unexpected server response: 403/);
      await stillServes(srv);
    });
  });

  test("same_origin: true: the Origin must be the request's Host; no Origin header is accepted", async () => {
    await withWs({ ws: "  same_origin: true" }, async (srv) => {
      const cases = [
        [`Origin: http://127.0.0.1:${srv.wsPort}`, true],
        ["Origin: http://evil.example", false],
        [`Origin: http://localhost:${srv.wsPort}`, false],
        [`Origin: https://127.0.0.1:${srv.wsPort}`, true], // the scheme is not compared, host and port are
        [`Origin: http://127.0.0.1:${srv.wsPort + 1}`, false],
        [null, true],
      ];
      for (const [origin, ok] of cases) {
        const h = await handshake(srv.wsPort, { extra: origin ? [origin] : [] });
        h.raw.destroy();
        try {
          if (ok) assertUpgraded(h); else assertForbidden(h);
        } catch (e) {
          e.message = `${origin ?? "no Origin"}: ${e.message}`;
          throw e;
        }
      }
    });
  });
});

describe("WebSocket: bad handshakes (raw socket)", () => {
  // nats-server answers with Go's http.Error: "<code> <text>", text/plain, body "<text>\n",
  // plus Sec-Websocket-Version: 13.
  function assertHttpError(h, statusLine, body) {
    assert.equal(h.statusLine, statusLine, h.raw.text());
    assert.equal(h.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(h.headers["sec-websocket-version"], "13");
    assert.equal(h.body, body);
    assert.equal(Number(h.headers["content-length"]), Buffer.byteLength(body));
  }

  test("not GET (POST): 405 Method Not Allowed", async () => {
    await withWs({}, async (srv) => {
      const h = await handshake(srv.wsPort, { method: "POST" });
      h.raw.destroy();
      assertHttpError(h, "HTTP/1.1 405 Method Not Allowed", "Method Not Allowed\n");
    });
  });

  test("missing Sec-WebSocket-Key, wrong Sec-WebSocket-Version, missing Upgrade, Connection without Upgrade: 400 Bad Request", async () => {
    await withWs({}, async (srv) => {
      for (const [what, opts] of [
        ["no Sec-WebSocket-Key", { key: null }],
        ["Sec-WebSocket-Version: 8", { version: "8" }],
        ["no Sec-WebSocket-Version", { version: null }],
        ["no Upgrade", { upgrade: null }],
        ["Connection: keep-alive", { connection: "keep-alive" }],
      ]) {
        const h = await handshake(srv.wsPort, opts);
        h.raw.destroy();
        try {
          assertHttpError(h, "HTTP/1.1 400 Bad Request", "Bad Request\n");
        } catch (e) {
          e.message = `${what}: ${e.message}`;
          throw e;
        }
      }
      await stillServes(srv);
    });
  });

  test("a good handshake: 101 with the RFC 6455 accept key, then INFO in one binary frame", async () => {
    await withWs({}, async (srv) => {
      const s = await wsSession(srv.wsPort);
      try {
        // nats-server sends exactly these three headers (Sec-WebSocket-Extensions only when
        // compressing); the names are compared without case.
        assert.equal(s.headers.upgrade, "websocket");
        assert.equal(s.headers.connection, "Upgrade");
        assert.equal(s.headers["sec-websocket-accept"], B64_ACCEPT);
        assert.equal(s.headers["sec-websocket-extensions"], undefined);
        assert.equal(s.headers["sec-websocket-protocol"], undefined);
        const first = parseFrames(s.raw.data.subarray(s.framesAt))[0];
        assert.equal(first.op, 2, "binary");
        assert.equal(first.fin, true);
        assert.equal(first.masked, false, "server frames are not masked");
        const info = parseInfo(s.info.data.toString());
        assert.equal(info.headers, true);
        assert.equal(typeof info.server_id, "string");
      } finally {
        s.destroy();
      }
    });
  });
});

describe("WebSocket: frames (raw socket)", () => {
  const badFrames = [
    ["an unmasked client frame", () => frame(2, "PING\r\n", { mask: false }), "mask bit missing"],
    ["a reserved opcode (3)", () => frame(3, "x"), "unknown opcode 3"],
    ["a reserved control opcode (0xB)", () => frame(0xb, ""), "unknown opcode 11"],
    ["a ping with 126 bytes of payload", () => frame(9, Buffer.alloc(126, 0x61)),
      "control frame length bigger than maximum allowed of 125 bytes"],
    ["a fragmented ping (FIN clear)", () => frame(9, "x", { fin: false }), "control frame does not have final bit set"],
    ["a continuation frame with no message started", () => frame(0, "PING\r\n"), "invalid continuation frame"],
  ];
  for (const [what, make, reason] of badFrames) {
    test(`${what}: close 1002 "${reason}", the connection closes, the server serves another client`, async () => {
      await withWs({}, async (srv) => {
        const s = await wsSession(srv.wsPort);
        try {
          s.send(make());
          await expectProtocolClose(s, reason);
        } finally {
          s.destroy();
        }
        await stillServes(srv);
      });
    });
  }

  test("a NATS protocol error over ws: -ERR 'Unknown Protocol Operation', then close (1002 \"Protocol Violation\")", async () => {
    await withWs({}, async (srv) => {
      const s = await wsSession(srv.wsPort);
      try {
        s.send(frame(2, "FOO\r\n"));
        const end = await bounded(s.ended, 5000, "close after the protocol error");
        assert.ok(end.how === "end" || end.error?.code === "ECONNRESET", JSON.stringify(end));
        const frames = s.frames();
        const data = messagesOf(frames).map((m) => m.data.toString()).join("");
        assert.equal(data, "-ERR 'Unknown Protocol Operation'\r\n");
        const close = frames.find((f) => f.op === 8);
        if (close) {
          assert.equal(close.payload.readUInt16BE(0), 1002);
          assert.equal(close.payload.subarray(2).toString(), "Protocol Violation");
        }
      } finally {
        s.destroy();
      }
      await stillServes(srv);
    });
  });

  test("ping -> pong with the same payload; NATS in binary and in text frames; the connection stays", async () => {
    await withWs({}, async (srv) => {
      const s = await wsSession(srv.wsPort);
      try {
        s.send(frame(9, "hello"));
        await waitFor("the pong", () => s.frames().length >= 1, 3000, 10);
        const [pong] = s.frames();
        assert.equal(pong.op, 10);
        assert.equal(pong.payload.toString(), "hello");
        s.send(frame(9, ""));
        await waitFor("the empty pong", () => s.frames().length >= 2, 3000, 10);
        assert.equal(s.frames()[1].op, 10);
        assert.equal(s.frames()[1].payload.length, 0);
        s.send(frame(2, 'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n'));
        await waitFor("PONG", () => s.text() === "PONG\r\n", 3000, 10);
        s.send(frame(1, "PING\r\n")); // a text frame is taken as well
        await waitFor("a second PONG", () => s.text() === "PONG\r\nPONG\r\n", 3000, 10);
        // A message split over a binary frame and a continuation frame.
        s.send(Buffer.concat([frame(2, "PI", { fin: false }), frame(0, "NG\r\n")]));
        await waitFor("a third PONG", () => s.text() === "PONG\r\nPONG\r\nPONG\r\n", 3000, 10);
        assert.equal(s.raw.closed, false);
      } finally {
        s.destroy();
      }
    });
  });

  test("close 1000 \"bye\" from the client: the server echoes close 1000 \"bye\" and closes", async () => {
    await withWs({}, async (srv) => {
      const s = await wsSession(srv.wsPort);
      try {
        s.send(frame(8, closePayload(1000, "bye")));
        const end = await bounded(s.ended, 5000, "close after the close frame");
        assert.equal(end.how, "end");
        const frames = s.frames();
        assert.equal(frames.length, 1, JSON.stringify(frames));
        assert.equal(frames[0].op, 8);
        assert.equal(frames[0].payload.readUInt16BE(0), 1000);
        assert.equal(frames[0].payload.subarray(2).toString(), "bye");
      } finally {
        s.destroy();
      }
    });
  });

  test("an empty close frame from the client: a close frame back and the connection closes", async () => {
    await withWs({}, async (srv) => {
      const s = await wsSession(srv.wsPort);
      try {
        s.send(frame(8, ""));
        const end = await bounded(s.ended, 5000, "close after the close frame");
        assert.equal(end.how, "end");
        const frames = s.frames();
        assert.equal(frames.length, 1, JSON.stringify(frames));
        assert.equal(frames[0].op, 8);
        // nats-server 2.9.10 answers with status 1005 (no status received) in the payload and no
        // reason; an empty close payload is the RFC 6455 answer: both are accepted here.
        const p = frames[0].payload;
        assert.ok(p.length === 0 || (p.length === 2 && p.readUInt16BE(0) === 1005), `close payload ${p.toString("hex")}`);
      } finally {
        s.destroy();
      }
    });
  });
});

describe("WebSocket: wss:// (websocket tls)", () => {
  let certs;
  before(() => { certs = generateCerts(); });
  after(() => certs?.cleanup());
  const tlsWsBlock = () => `  tls {\n    cert_file: "${certs.server.cert}"\n    key_file: "${certs.server.key}"\n  }`;

  test("nats.ws over wss:// trusting the test CA (a wsFactory passing {ca} to ws, and a WebSocket subclass)", async () => {
    await withWs({ tlsWs: true, ws: tlsWsBlock() }, async (srv) => {
      const url = `wss://127.0.0.1:${srv.wsPort}`;
      const ca = readFileSync(certs.ca.cert);
      const t = await connect({ servers: srv.url, ...once });
      t.subscribe("svc.wss", { callback: (_e, m) => m.respond(sc.encode(`tcp:${sc.decode(m.data)}`)) });
      await t.flush();
      try {
        // 1. nats.ws's wsFactory option: the socket is made by the test.
        const a = await nws.connect({
          servers: url, ...once,
          wsFactory: async (u) => ({ socket: new WebSocket(u, { ca }), encrypted: true }),
        });
        try {
          assert.equal(a.info.tls_required, undefined, "nats-server's ws INFO has no tls_required, even over wss");
          const r = await a.request("svc.wss", sc.encode("a"), { timeout: 3000 });
          assert.equal(sc.decode(r.data), "tcp:a");
        } finally {
          await a.close();
        }
        // 2. A WebSocket subclass with the CA as the global nats.ws uses.
        class CaWebSocket extends WebSocket {
          constructor(u, protocols, options) { super(u, protocols, { ca, ...(options ?? {}) }); }
        }
        globalThis.WebSocket = CaWebSocket;
        try {
          const b = await nws.connect({ servers: url, ...once });
          try {
            const r = await b.request("svc.wss", sc.encode("b"), { timeout: 3000 });
            assert.equal(sc.decode(r.data), "tcp:b");
          } finally {
            await b.close();
          }
        } finally {
          globalThis.WebSocket = WebSocket;
        }
      } finally {
        await t.close();
      }
    });
  });

  test("wss:// without trusting the CA fails certificate verification; ws:// on the wss port is not upgraded", async () => {
    await withWs({ tlsWs: true, ws: tlsWsBlock() }, async (srv) => {
      await assert.rejects(nws.connect({ servers: `wss://127.0.0.1:${srv.wsPort}`, ...once }), (e) => {
        assert.match(String(e.message), /unable to verify the first certificate|self.signed|unable to get/i, e.message);
        return true;
      });
      await assert.rejects(nws.connect({
        servers: `wss://127.0.0.1:${srv.wsPort}`, ...once,
        wsFactory: async (u) => ({ socket: new WebSocket(u, { ca: readFileSync(certs.otherCa.cert) }), encrypted: true }),
      }));
      // Plain HTTP on the TLS listener: no 101 (nats-server: Go's "HTTP/1.0 400 Bad Request ...
      // Client sent an HTTP request to an HTTPS server."), and the connection ends.
      const r = rawSocket(srv.wsPort);
      await bounded(r.connected, WAIT_MS, "connect");
      r.socket.write(upgradeRequest(srv.wsPort));
      await bounded(r.ended, 5000, "the server to close the plaintext connection");
      assert.doesNotMatch(r.text(), /^HTTP\/1\.1 101/);
    });
  });
});
