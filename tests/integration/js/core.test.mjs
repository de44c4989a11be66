// Core NATS with the nats.js client against a real osprey process.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, headers, ErrorCode, createInbox } from "nats";
import { startServer } from "./server.mjs";

const sc = StringCodec();
let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

async function collect(sub, n, ms = 2000) {
  const out = [];
  const timer = setTimeout(() => sub.unsubscribe(), ms);
  for await (const m of sub) {
    out.push(m);
    if (out.length === n) break;
  }
  clearTimeout(timer);
  return out;
}

test("publish and subscribe", async () => {
  const nc = await connect({ servers: srv.url });
  const sub = nc.subscribe("greet.*");
  nc.publish("greet.joe", sc.encode("hello"));
  nc.publish("greet.ann", sc.encode("hi"));
  const msgs = await collect(sub, 2);
  assert.deepEqual(msgs.map((m) => [m.subject, sc.decode(m.data)]), [
    ["greet.joe", "hello"], ["greet.ann", "hi"],
  ]);
  await nc.close();
});

test("full wildcard and token wildcard", async () => {
  const nc = await connect({ servers: srv.url });
  const full = nc.subscribe("a.>");
  const star = nc.subscribe("a.*");
  nc.publish("a.b");
  nc.publish("a.b.c");
  await nc.flush();
  const f = await collect(full, 2);
  const s = await collect(star, 2, 300);
  assert.deepEqual(f.map((m) => m.subject), ["a.b", "a.b.c"]);
  assert.deepEqual(s.map((m) => m.subject), ["a.b"]);
  await nc.close();
});

test("queue group: each message to exactly one member", async () => {
  const nc1 = await connect({ servers: srv.url });
  const nc2 = await connect({ servers: srv.url });
  const pub = await connect({ servers: srv.url });
  const counts = [0, 0];
  const seen = new Map();
  const make = (nc, i) => nc.subscribe("jobs", { queue: "w", callback: (_e, m) => {
    counts[i]++;
    const k = sc.decode(m.data);
    seen.set(k, (seen.get(k) ?? 0) + 1);
  } });
  make(nc1, 0);
  make(nc2, 1);
  await nc1.flush();
  await nc2.flush();
  for (let i = 0; i < 200; i++) pub.publish("jobs", sc.encode(String(i)));
  await pub.flush();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen.size, 200);
  for (const v of seen.values()) assert.equal(v, 1);
  assert.ok(counts[0] > 20 && counts[1] > 20, `spread ${counts}`);
  await Promise.all([nc1.close(), nc2.close(), pub.close()]);
});

test("request/reply", async () => {
  const nc = await connect({ servers: srv.url });
  nc.subscribe("echo", { callback: (_e, m) => m.respond(sc.encode("re:" + sc.decode(m.data))) });
  await nc.flush();
  const r = await nc.request("echo", sc.encode("x"), { timeout: 2000 });
  assert.equal(sc.decode(r.data), "re:x");
  await nc.close();
});

test("no responders: the request fails at once with 503", async () => {
  const nc = await connect({ servers: srv.url });
  const t0 = Date.now();
  await assert.rejects(nc.request("nobody.here", undefined, { timeout: 5000 }), (err) => {
    assert.equal(err.code, ErrorCode.NoResponders);
    return true;
  });
  assert.ok(Date.now() - t0 < 4000);
  await nc.close();
});

test("headers travel with the message", async () => {
  const nc = await connect({ servers: srv.url });
  const sub = nc.subscribe("h");
  const h = headers();
  h.set("X-Id", "42");
  h.append("X-Multi", "a");
  h.append("X-Multi", "b");
  nc.publish("h", sc.encode("body"), { headers: h });
  const [m] = await collect(sub, 1);
  assert.equal(m.headers.get("X-Id"), "42");
  assert.deepEqual(m.headers.values("X-Multi"), ["a", "b"]);
  assert.equal(sc.decode(m.data), "body");
  await nc.close();
});

test("max payload is announced and enforced by the client", async () => {
  const nc = await connect({ servers: srv.url });
  assert.equal(nc.info.max_payload, 1024 * 1024);
  assert.throws(() => nc.publish("big", new Uint8Array(1024 * 1024 + 1)), (e) => {
    assert.equal(e.code, ErrorCode.MaxPayloadExceeded);
    return true;
  });
  await nc.close();
});

test("auto-unsubscribe after max messages", async () => {
  const nc = await connect({ servers: srv.url });
  const sub = nc.subscribe("lim", { max: 2 });
  for (let i = 0; i < 5; i++) nc.publish("lim");
  const got = await collect(sub, 5, 500);
  assert.equal(got.length, 2);
  await nc.close();
});

test("drain delivers what is in flight", async () => {
  const nc = await connect({ servers: srv.url });
  const pub = await connect({ servers: srv.url });
  let n = 0;
  nc.subscribe("d", { callback: () => { n++; } });
  await nc.flush();
  for (let i = 0; i < 500; i++) pub.publish("d");
  await pub.flush();
  await nc.drain();
  assert.equal(n, 500);
  await pub.close();
});

test("many inboxes: requests from concurrent clients", async () => {
  const svc = await connect({ servers: srv.url });
  svc.subscribe("add", { queue: "calc", callback: (_e, m) => {
    const [a, b] = JSON.parse(sc.decode(m.data));
    m.respond(sc.encode(String(a + b)));
  } });
  await svc.flush();
  const clients = await Promise.all([1, 2, 3].map(() => connect({ servers: srv.url })));
  const results = await Promise.all(clients.flatMap((c, i) =>
    Array.from({ length: 20 }, (_, j) => c.request("add", sc.encode(JSON.stringify([i, j]))))));
  assert.equal(results.length, 60);
  assert.equal(sc.decode(results[21].data), String(1 + 1));
  await Promise.all([...clients, svc].map((c) => c.close()));
  assert.ok(createInbox().startsWith("_INBOX."));
});
