// Shared helpers of the consumer-group tests (HTTP + WebSocket API, docs/groups.md):
// a JetStream server with its monitoring port, HTTP calls with bounded waits, a WebSocket
// client with a message queue, polling, a seeded PRNG, and a restart on the same store dir.
import assert from "node:assert/strict";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers as natsHeaders, StringCodec } from "nats";
import WebSocket from "ws";
import { startServer, writeConfig } from "../server.mjs";

export const sc = StringCodec();
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let counter = 0;
// A name unique in this process: lowercase letters, digits and '-' only (sorts the same
// bytewise and in JS), valid as a group name, a stream name and a subject token.
export function uniq(prefix = "g") {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

// ---------------------------------------------------------------------------------------
// HTTP

// One HTTP call. `body`: an object (sent as JSON) or, with `raw`, a string sent as is.
// Answers {status, body (parsed JSON or undefined), text, headers}. Bounded by `timeout`.
export async function http(base, method, path, { body, raw, headers = {}, timeout = 10_000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeout) };
  if (raw !== undefined) {
    init.body = raw;
    init.headers["content-type"] ??= "application/json";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] ??= "application/json";
  }
  let res, text;
  try {
    res = await fetch(base + path, init);
    text = await res.text();
  } catch (e) {
    if (e.name === "TimeoutError" || e.name === "AbortError") {
      throw new Error(`${method} ${path} ${init.body === undefined ? "" : String(init.body).slice(0, 200)}: no answer in ${timeout} ms`);
    }
    throw e;
  }
  let parsed;
  try { parsed = text === "" ? undefined : JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

// A request written on a raw socket: the headers first, then (unless the server answered
// already) the body in chunks, stopping as soon as an answer comes. The answer is read even
// when the server answers (and closes) before it has read the whole body, which fetch may
// report as a write error (EPIPE).
export function rawHttp(port, method, path, bodyBuf, { headers = {}, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      const head = data.indexOf("\r\n\r\n");
      if (head < 0) return;
      const hdrs = data.subarray(0, head).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(hdrs);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(hdrs);
      const bodyBytes = data.subarray(head + 4);
      if (cl && bodyBytes.length < Number(cl[1])) return;  // wait for the rest
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const bodyText = bodyBytes.toString("utf8");
      let body;
      try { body = JSON.parse(bodyText); } catch { body = undefined; }
      resolve({ status: m ? Number(m[1]) : 0, text: bodyText, body });
    };
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      sock.destroy();
      reject(new Error(`rawHttp ${method} ${path}: no answer in ${timeout} ms`));
    }, timeout);
    sock.on("data", (d) => { data = Buffer.concat([data, d]); finish(); });
    sock.on("error", () => { /* EPIPE/ECONNRESET after an early answer: read what came */ });
    sock.on("close", () => {
      finish();
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`rawHttp ${method} ${path}: closed without an answer: ${JSON.stringify(data.toString("latin1").slice(0, 200))}`));
      }
    });
    sock.on("connect", async () => {
      let h = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${bodyBuf.length}\r\nConnection: close\r\n`;
      for (const [k, v] of Object.entries(headers)) h += `${k}: ${v}\r\n`;
      sock.write(h + "\r\n");
      // A server may answer from the headers alone (Content-Length over its limit).
      for (let i = 0; i < 20 && data.length === 0 && !sock.destroyed; i++) await sleep(10);
      const CHUNK = 64 * 1024;
      for (let off = 0; off < bodyBuf.length; off += CHUNK) {
        if (data.length > 0 || sock.destroyed || done) return;
        if (!sock.write(bodyBuf.subarray(off, off + CHUNK))) {
          await new Promise((r) => { sock.once("drain", r); sock.once("close", r); });
        }
      }
    });
  });
}

// Asserts a contract error answer: the status and {"code": code, "message": non-empty}.
export function assertError(res, status, code, what = "") {
  const ctx = `${what} → ${res.status} ${res.text}`;
  assert.equal(res.status, status, ctx);
  assert.ok(res.body && typeof res.body === "object" && !Array.isArray(res.body), `error body is a JSON object: ${ctx}`);
  assert.equal(res.body.code, code, ctx);
  assert.equal(typeof res.body.message, "string", ctx);
  assert.ok(res.body.message.length > 0, `error message is not empty: ${ctx}`);
}

export function assertStatus(res, status, what = "") {
  assert.equal(res.status, status, `${what} → ${res.status} ${res.text}`);
}

// ---------------------------------------------------------------------------------------
// Polling

// Calls fn until it answers truthy; its last answer is returned. Throws after `timeout`.
export async function waitFor(fn, { timeout = 5000, interval = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last, lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { lastErr = e; }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
        (lastErr ? `: ${lastErr.message}` : `; last: ${JSON.stringify(last)}`));
    }
    await sleep(interval);
  }
}

// Rejects when p takes longer than ms.
export function within(p, ms, what = "operation") {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// PRNG: mulberry32, seeded.
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),  // lo..hi inclusive
  };
}

// ---------------------------------------------------------------------------------------
// Servers

// A JetStream server (fresh store dir unless `dir`) with optional config text, its HTTP
// base, a NATS connection (`natsOpts`: token/user/pass) and helpers bound to it.
export async function startGroups({ config, dir, natsOpts = {}, js = true } = {}) {
  const storeDir = dir ?? mkdtempSync(join(tmpdir(), "osprey-groups-"));
  const cfgPath = config ? writeConfig(config) : undefined;
  const env = {
    dir: storeDir,
    cfgPath,
    natsOpts,
    srv: undefined,
    nc: undefined,
    jsm: undefined,
    js: undefined,
    base: undefined,
    httpPort: undefined,
    wsUrl: undefined,
    // HTTP call on this server's monitoring port (see http()).
    api(method, path, opts) { return http(env.base, method, path, opts); },
    async boot() {
      const args = [];
      if (cfgPath) args.push("-c", cfgPath);
      if (js) args.push("-js", "-sd", storeDir);
      env.srv = await startServer(args);
      env.httpPort = env.srv.httpPort;
      env.base = `http://127.0.0.1:${env.httpPort}`;
      env.wsUrl = `ws://127.0.0.1:${env.httpPort}/ws`;
      try {
        await waitFor(async () => (await http(env.base, "GET", "/varz", { timeout: 1000 })).status === 200,
          { timeout: 10_000, what: "the monitoring port" });
        env.nc = await connect({ servers: env.srv.url, ...natsOpts });
        if (js) {
          env.jsm = await env.nc.jetstreamManager();
          env.js = env.nc.jetstream();
        }
      } catch (e) {
        await env.srv.kill("SIGKILL");
        throw new Error(`server on ${storeDir} did not come up: ${e.message}\n${env.srv.log().slice(-2000)}`);
      }
    },
    // kill -9 the server (NATS connection closed first) and start it again on the same store
    // dir and config (new ports). Everything bound to the old ports is gone.
    async restart({ kill = true } = {}) {
      await env.killNow({ kill });
      await env.boot();
    },
    async killNow({ kill = true } = {}) {
      const nc = env.nc;
      env.nc = undefined;
      if (kill) await env.srv.kill("SIGKILL");
      else await env.srv.stop();
      if (nc) await nc.close().catch(() => {});
    },
    async close() {
      if (env.nc) await env.nc.close().catch(() => {});
      if (env.srv) await env.srv.stop();
      if (!dir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
  await env.boot();
  return env;
}

// A stream of subjects (file storage), for tests.
export async function addStream(env, name, subjects) {
  return env.jsm.streams.add({ name, subjects });
}

// Publishes through JetStream; answers the stream sequence.
export async function jpub(env, subject, payload, hdrs) {
  const data = typeof payload === "string" ? sc.encode(payload)
    : payload instanceof Uint8Array ? payload : sc.encode(JSON.stringify(payload));
  const opts = {};
  if (hdrs) {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    opts.headers = h;
  }
  const ack = await env.js.publish(subject, data, opts);
  return ack.seq;
}

// Creates a group and asserts 201; answers the group JSON.
export async function createGroup(env, spec, reqOpts = {}) {
  const res = await env.api("POST", "/v1/groups", { body: spec, ...reqOpts });
  assert.equal(res.status, 201, `create ${JSON.stringify(spec)} → ${res.status} ${res.text}`);
  return res.body;
}

export async function getGroup(env, name, reqOpts = {}) {
  const res = await env.api("GET", `/v1/groups/${name}`, reqOpts);
  assert.equal(res.status, 200, `GET group ${name} → ${res.status} ${res.text}`);
  return res.body;
}

// One fetch; asserts 200 and {"events": [...]}; answers the events.
export async function fetchEvents(env, group, body, reqOpts = {}) {
  const timeout = (body.wait_ms ?? 0) + 10_000;
  const res = await env.api("POST", `/v1/groups/${group}/fetch`, { body, timeout, ...reqOpts });
  assert.equal(res.status, 200, `fetch ${group} ${JSON.stringify(body)} → ${res.status} ${res.text}`);
  assert.ok(res.body && Array.isArray(res.body.events), `fetch answers {"events": [...]}: ${res.text}`);
  return res.body.events;
}

// Fetches (long polls of `wait` ms) until `n` events came or `timeout` passed.
export async function fetchN(env, group, member, n, { timeout = 8000, wait = 500, max } = {}) {
  const got = [];
  const deadline = Date.now() + timeout;
  while (got.length < n && Date.now() < deadline) {
    const evs = await fetchEvents(env, group, { member_id: member, max: max ?? Math.min(1000, n - got.length), wait_ms: wait });
    got.push(...evs);
  }
  return got;
}

export async function ack(env, group, event_id, type, extra = {}, reqOpts = {}) {
  const body = { event_id, ...extra };
  if (type !== undefined) body.type = type;
  return env.api("POST", `/v1/groups/${group}/ack`, { body, ...reqOpts });
}

export async function ackOk(env, group, event_id, type, extra = {}) {
  const res = await ack(env, group, event_id, type, extra);
  assert.equal(res.status, 200, `ack ${type ?? "(default)"} ${event_id} → ${res.status} ${res.text}`);
  assert.deepEqual(res.body, {}, `ack answers {}: ${res.text}`);
  return res;
}

// Reads every message of a stream (seq 1..last, skipping deleted ones) with stream get.
export async function streamMessages(env, stream) {
  const info = await env.jsm.streams.info(stream);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    try {
      out.push(await env.jsm.streams.getMessage(stream, { seq }));
    } catch (e) {
      if (!/no message found|not found/i.test(String(e.message))) throw e;
    }
  }
  return out;
}

// Headers of a stored message as a plain object (first value of each).
export function headersObject(sm) {
  const o = {};
  if (!sm.header) return o;
  for (const k of sm.header.keys()) o[k] = sm.header.get(k);
  return o;
}

// ---------------------------------------------------------------------------------------
// WebSocket

// A WebSocket client whose incoming JSON messages queue up; next() takes the first one
// matching a predicate (waiting, bounded). Non-JSON frames are queued as {raw: text}.
export class WsClient {
  constructor(url, opts = {}) {
    this.url = url;
    this.queue = [];
    this.all = [];
    this.waiters = [];
    this.closed = false;
    this.closeInfo = undefined;
    this.onMessage = undefined;  // called with each parsed message (also queued)
    this.ws = new WebSocket(url, opts);
    this.ws.on("message", (data, isBinary) => {
      const text = isBinary ? Buffer.from(data).toString("latin1") : data.toString();
      let msg;
      try { msg = JSON.parse(text); } catch { msg = { raw: text }; }
      this.all.push(msg);
      this.queue.push(msg);
      if (this.onMessage) this.onMessage(msg);
      this._wake();
    });
    this.ws.on("close", (code, reason) => {
      this.closed = true;
      this.closeInfo = { code, reason: reason.toString() };
      this._wake();
    });
    this.ws.on("error", (e) => { this.error = e; this._wake(); });
  }

  // Resolves when open; rejects with the upgrade's status if the server refused it.
  static open(url, opts = {}, timeout = 5000) {
    const c = new WsClient(url, opts);
    return within(new Promise((resolve, reject) => {
      c.ws.once("open", () => resolve(c));
      c.ws.once("unexpected-response", (_req, res) => {
        const e = new Error(`upgrade refused: ${res.statusCode}`);
        e.statusCode = res.statusCode;
        res.resume();
        c.ws.terminate?.();
        reject(e);
      });
      c.ws.once("error", (e) => reject(e));
      c.ws.once("close", () => reject(new Error("closed before open")));
    }), timeout, `WebSocket open ${url}`);
  }

  _wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  send(obj) { this.ws.send(JSON.stringify(obj)); }
  sendRaw(text) { this.ws.send(text); }

  // The first queued or coming message for which pred(msg) is true (removed from the queue).
  async next(pred = () => true, timeout = 5000, what = "a message") {
    const deadline = Date.now() + timeout;
    for (;;) {
      const i = this.queue.findIndex(pred);
      if (i >= 0) return this.queue.splice(i, 1)[0];
      if (this.closed) throw new Error(`WebSocket closed (${JSON.stringify(this.closeInfo)}) while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}; queue: ${JSON.stringify(this.queue).slice(0, 2000)}`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  // Waits `ms` and answers (and removes) the queued messages matching pred.
  async drain(pred, ms) {
    await sleep(ms);
    const out = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    return out;
  }

  nextType(type, timeout = 5000) { return this.next((m) => m.type === type, timeout, `a ${type}`); }

  // subscribe; answers the single result (whatever its status).
  async subscribe(pattern, options, timeout = 5000) {
    this.send({ type: "subscribe", subscription: { pattern, options } });
    const r = await this.nextType("subscription_result", timeout);
    assert.ok(Array.isArray(r.results) && r.results.length === 1, `one result: ${JSON.stringify(r)}`);
    return r.results[0];
  }

  // subscribe and assert ok; answers the result.
  async join(group, pattern, consumerId, extra = {}) {
    const options = { consumerGroup: group, ackMode: "manual", ...extra };
    if (consumerId !== undefined) options.consumerId = consumerId;
    const r = await this.subscribe(pattern, options);
    assert.equal(r.status, "ok", `subscribe ${group} → ${JSON.stringify(r)}`);
    assert.equal(r.pattern, pattern);
    assert.equal(typeof r.subscriptionId, "string");
    assert.ok(r.subscriptionId.length > 0);
    assert.equal(typeof r.memberId, "string");
    assert.ok(r.memberId.length > 0);
    if (consumerId !== undefined) assert.equal(r.memberId, consumerId);
    return r;
  }

  nextEvent(timeout = 5000, pred = () => true) {
    return this.next((m) => m.type === "event" && pred(m), timeout, "an event");
  }

  async ackEvent(eventId, ackType = "ack", extra = {}, timeout = 5000) {
    this.send({ type: "ack", eventId, ackType, ...extra });
    return this.next((m) => m.type === "ack_result" && m.eventId === eventId, timeout, `ack_result of ${eventId}`);
  }

  close() {
    if (this.closed) return Promise.resolve();
    return within(new Promise((r) => { this.ws.once("close", r); this.ws.close(); }), 3000, "WebSocket close")
      .catch(() => { this.ws.terminate(); });
  }

  terminate() { this.ws.terminate(); }
}

export { natsHeaders };
