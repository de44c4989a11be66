// Seeded fuzzing of the groups API's inputs against a real osprey: mutated JSON bodies,
// paths and methods on HTTP, raw HTTP garbage on the socket, and text, binary and broken
// frames on the WebSocket. Every answer must be one of the contract's (JSON errors with its
// codes), the server must stay up, and afterwards a normal member must still work.
// Replay: GROUPS_FUZZ_SEED=<seed printed> ; budget: GROUPS_FUZZ_SECONDS (default 8).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { connect } from "nats";
import { startServer } from "../server.mjs";

const seed = Number(process.env.GROUPS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const budgetMs = 1000 * Number(process.env.GROUPS_FUZZ_SECONDS ?? 8);
console.log(`groups fuzz seed ${seed} (replay with GROUPS_FUZZ_SEED=${seed})`);

// mulberry32: small, seeded, good enough to pick mutations.
function prng(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(seed);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const int = (n) => Math.floor(rnd() * n);

const CODES = new Set(["invalid_argument", "unauthenticated", "permission_denied", "not_found",
  "already_exists", "resource_exhausted", "internal"]);
const STATUS_OF = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403, not_found: 404,
  already_exists: 409, resource_exhausted: 413, internal: 500 };

function randomValue(depth = 0) {
  switch (int(depth > 2 ? 6 : 8)) {
    case 0: return pick([0, 1, -1, 42, 100, 1000, 10000, 10001, 3600000, 2 ** 53, -(2 ** 63), 1e30, 0.5, 5.0]);
    case 1: return pick(["", "a", "orders.>", "orders.*", "x".repeat(int(3000)), "ünï", "a b", "*", ">", "dlq.x", "1"]);
    case 2: return pick([true, false]);
    case 3: return null;
    case 4: return "\u0000\uffff" + String.fromCharCode(int(65536));
    case 5: return int(1e6);
    case 6: return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(["name", "max", "x", "type"]), randomValue(depth + 1)]));
  }
}

const TEMPLATES = {
  create: () => ({ name: pick(["fz", "fz-1", "fz_2", "bad name", ""]), pattern: pick(["fuzz.>", "fuzz.*", "other.>", "fuzz..x"]),
    max_inflight: 5, max_redeliveries: 1, redeliver_delay_ms: 200, dead_letter_subject: pick(["", "fuzzdlq.x", "nope.x"]),
    ack_mode: pick(["manual", "auto"]), redeliver_backoff_ms: [200, 300] }),
  patch: () => ({ max_inflight: 3, redeliver_delay_ms: 300, pattern: "fuzz.>" }),
  fetch: () => ({ member_id: pick(["m1", "m2", "bad id", ""]), max: 3, wait_ms: pick([0, 0, 50]) }),
  ack: () => ({ event_id: pick(["1", "2", "999999", "x", ""]), type: pick(["ack", "nak", "term", "bogus"]), delay_ms: 0 }),
  redrive: () => ({ max: 2 }),
};

function mutate(obj) {
  const o = structuredClone(obj);
  const keys = Object.keys(o);
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    switch (int(5)) {
      case 0: if (keys.length) delete o[pick(keys)]; break;
      case 1: if (keys.length) o[pick(keys)] = randomValue(); break;
      case 2: o[pick(["typo", "Name", "max_inflight ", "__proto__x"])] = randomValue(); break;
      default: break;  // leave it valid now and then
    }
  }
  return o;
}

function body(kind) {
  const r = int(10);
  if (r === 0) return JSON.stringify(randomValue());                       // not an object
  if (r === 1) return JSON.stringify(mutate(TEMPLATES[kind]())).slice(0, -1 - int(5)); // truncated
  if (r === 2) return Buffer.from(Array.from({ length: int(200) }, () => int(256))).toString("latin1");
  if (r === 3) return "[".repeat(200 + int(2000));                       // deep
  return JSON.stringify(mutate(TEMPLATES[kind]()));
}

let env;
after(async () => { if (env) await env.close(); });

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "osprey-groups-fuzz-"));
  const srv = await startServer(["-js", "-sd", dir]);
  const nc = await connect({ servers: srv.url });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "FUZZ", subjects: ["fuzz.>"] });
  await jsm.streams.add({ name: "FUZZDLQ", subjects: ["fuzzdlq.>"] });
  const http = `http://127.0.0.1:${srv.httpPort}`;
  env = {
    srv, nc, jsm, http, ws: `ws://127.0.0.1:${srv.httpPort}/ws`,
    async close() { await nc.close().catch(() => {}); await srv.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
  return env;
}

async function checkAnswer(res, what) {
  const text = await res.text();
  if (res.status < 300) return;
  let j;
  try { j = JSON.parse(text); } catch { assert.fail(`${what}: ${res.status} with no JSON body: ${text.slice(0, 200)}`); }
  assert.ok(CODES.has(j.code), `${what}: unknown code ${j.code}`);
  assert.equal(res.status, STATUS_OF[j.code], `${what}: status ${res.status} for code ${j.code}`);
  assert.equal(typeof j.message, "string", `${what}: message`);
  assert.notEqual(j.code, "internal", `${what}: internal error for bad input: ${j.message}`);
}

async function fuzzHttp(deadline) {
  let n = 0;
  while (Date.now() < deadline) {
    const kind = pick(["create", "patch", "fetch", "ack", "redrive", "get", "list", "delete", "path"]);
    const name = pick(["fz", "fz-1", "fz_2", "nope", "x".repeat(65), "..", "%2e%2e", "a%00b", "ü"]);
    let method = "POST", path = "/v1/groups", b;
    switch (kind) {
      case "create": b = body("create"); break;
      case "patch": method = "PATCH"; path += `/${name}`; b = body("patch"); break;
      case "fetch": path += `/${name}/fetch`; b = body("fetch"); break;
      case "ack": path += `/${name}/ack`; b = body("ack"); break;
      case "redrive": path += `/${name}/redrive`; b = body("redrive"); break;
      case "get": method = "GET"; path += `/${name}`; break;
      case "list": method = "GET"; break;
      case "delete": method = "DELETE"; path += `/${name}`; break;
      default: method = pick(["PUT", "GET", "POST", "HEAD"]); path = pick(["/v1/groups/x/y/z", "/v1/groupsx", "/v1/", "/v1/groups//fetch"]); break;
    }
    const what = `#${n} ${method} ${path} ${String(b ?? "").slice(0, 80)}`;
    const res = await fetch(env.http + path, { method, body: method === "GET" || method === "HEAD" ? undefined : b,
      signal: AbortSignal.timeout(10000) });
    if (method !== "HEAD") await checkAnswer(res, what);
    n++;
  }
  return n;
}

// Raw bytes on a fresh HTTP connection: the server answers or closes, and never dies.
function rawHttp(bytes) {
  return new Promise((resolve) => {
    const s = net.connect(env.srv.httpPort, "127.0.0.1");
    const done = () => { s.destroy(); resolve(); };
    s.setTimeout(3000, done);
    s.on("error", done);
    s.on("close", done);
    s.on("connect", () => s.end(bytes));
    s.on("data", () => {});
  });
}

async function fuzzRaw(deadline) {
  let n = 0;
  const heads = [
    "POST /v1/groups HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{",
    "POST /v1/groups HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GARBAGE\r\n\r\n",
    "GET /v1/groups HTTP/1.1\r\n" + "X: " + "y".repeat(20000) + "\r\n\r\n",
  ];
  while (Date.now() < deadline) {
    const b = int(3) === 0 ? Buffer.from(Array.from({ length: 1 + int(500) }, () => int(256))) : Buffer.from(pick(heads));
    await rawHttp(b);
    n++;
  }
  return n;
}

async function fuzzWs(deadline) {
  let n = 0;
  while (Date.now() < deadline) {
    const ws = new WebSocket(env.ws);
    const replies = [];
    const opened = await new Promise((resolve) => {
      ws.on("open", () => resolve(true));
      ws.on("error", () => resolve(false));
      ws.on("unexpected-response", () => resolve(false));
    });
    if (!opened) { n++; continue; }
    ws.on("message", (d, isBinary) => { if (!isBinary) replies.push(d.toString()); });
    const closed = new Promise((r) => ws.on("close", r));
    for (let i = 0; i < 20 && Date.now() < deadline; i++) {
      const r = int(8);
      if (r === 0) ws.send(Buffer.from(Array.from({ length: int(100) }, () => int(256))));  // binary
      else if (r === 1) ws.send(JSON.stringify(randomValue()));
      else if (r === 2) ws.send(JSON.stringify({ type: "subscribe", subscription: mutate({ pattern: "fuzz.>",
        options: { consumerGroup: pick(["fz", "nope"]), consumerId: pick(["c1", "c1", "bad id"]), ackMode: pick(["manual", "auto", 3]) } }) }));
      else if (r === 3) ws.send(JSON.stringify(mutate({ type: "ack", eventId: pick(["1", "x", ""]), ackType: pick(["ack", "nak", "term", 7]), redeliverDelay: 10 })));
      else if (r === 4) ws.send(JSON.stringify({ type: pick(["unsubscribe", "nope", 5]), subscriptionId: pick(["sub-x", 3]) }));
      else if (r === 5 && ws._socket) ws._socket.write(Buffer.from(Array.from({ length: 1 + int(30) }, () => int(256))));  // broken frames
      else ws.send(body("ack"));
      n++;
    }
    await new Promise((r) => setTimeout(r, 30));
    for (const t of replies) {
      const m = JSON.parse(t);  // every reply is JSON
      assert.ok(["error", "subscription_result", "ack_result", "event", "subscription_error"].includes(m.type), t);
      if (m.type === "error") assert.ok(CODES.has(m.code), t);
    }
    ws.terminate();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  }
  return n;
}

test(`groups API inputs, fuzzed with seed ${seed}`, async () => {
  await setup();
  const start = Date.now();
  const httpN = await fuzzHttp(start + budgetMs * 0.5);
  const rawN = await fuzzRaw(start + budgetMs * 0.7);
  const wsN = await fuzzWs(start + budgetMs);
  console.log(`fuzzed ${httpN} HTTP requests, ${rawN} raw connections, ${wsN} WebSocket messages`);

  // Still up, and a normal group works end to end.
  let r = await fetch(`${env.http}/v1/groups/after-fuzz`, { method: "DELETE" });
  await r.text();
  r = await fetch(`${env.http}/v1/groups`, { method: "POST",
    body: JSON.stringify({ name: "after-fuzz", pattern: "fuzz.after", redeliver_delay_ms: 1000 }) });
  assert.equal(r.status, 201, await r.text());
  const js = env.nc.jetstream();
  await js.publish("fuzz.after", "ok");
  r = await fetch(`${env.http}/v1/groups/after-fuzz/fetch`, { method: "POST",
    body: JSON.stringify({ member_id: "final", max: 1, wait_ms: 3000 }) });
  const got = await r.json();
  assert.equal(got.events.length, 1);
  assert.equal(got.events[0].data, "ok");
  r = await fetch(`${env.http}/v1/groups/after-fuzz/ack`, { method: "POST",
    body: JSON.stringify({ event_id: got.events[0].event_id }) });
  assert.equal(r.status, 200, await r.text());
  r = await fetch(`http://127.0.0.1:${env.srv.httpPort}/varz`);
  assert.equal(r.status, 200);
});
