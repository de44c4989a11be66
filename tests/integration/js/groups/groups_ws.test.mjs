// Consumer groups over the WebSocket (`/ws`, Ironflow message shapes; groups-api.md §4.2 +
// docs/groups.md): subscribe results and errors, events, ack/nak/term, bad frames, load
// sharing, redelivery after a member leaves, group deletion, unsubscribe, several
// subscriptions on one connection, ack_mode auto, token auth.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  RFC3339, sleep, uniq, assertError, waitFor, startGroups, addStream, jpub, createGroup, getGroup, WsClient,
} from "./groups_env.mjs";

let env;
const open = [];
before(async () => { env = await startGroups(); });
after(async () => {
  for (const c of open) c.terminate();
  await env?.close();
});

// A fresh stream `<p>.>` and a group on it (spec: object or function of p).
async function setup(group = {}) {
  const stream = uniq("S");
  const p = uniq("t");
  await addStream(env, stream, [`${p}.>`]);
  const name = uniq("g");
  const spec = typeof group === "function" ? group(p) : group;
  const g = await createGroup(env, { name, pattern: `${p}.>`, ...spec });
  return { stream, p, name, pattern: g.pattern, g };
}

async function ws(url = env.wsUrl, opts) {
  const c = await WsClient.open(url, opts);
  open.push(c);
  return c;
}

const b64 = (s) => Buffer.from(s).toString("base64");

test("subscribe: subscription_result ok with subscriptionId and memberId (given or made), any Origin", async () => {
  const { name, pattern } = await setup();
  const a = await ws();
  const r = await a.join(name, pattern, "tab-1");
  assert.equal(r.memberId, "tab-1");
  const b = await ws(env.wsUrl, { origin: "https://elsewhere.example" });  // any Origin is accepted
  const r2 = await b.join(name, pattern);  // no consumerId: the server makes one
  assert.notEqual(r2.memberId, "tab-1");
  assert.notEqual(r2.subscriptionId, r.subscriptionId);
  // ackMode absent is manual.
  const c = await ws();
  c.send({ type: "subscribe", subscription: { pattern, options: { consumerGroup: name, consumerId: "tab-3" } } });
  const r3 = await c.nextType("subscription_result");
  assert.equal(r3.results[0].status, "ok", JSON.stringify(r3));
  assert.equal(r3.results[0].memberId, "tab-3");
  const g = await waitFor(async () => { const g = await getGroup(env, name); return g.member_count === 3 && g; }, { what: "3 members" });
  const ids = g.members.map((m) => m.id).sort();
  assert.deepEqual(ids, ["tab-1", "tab-3", r2.memberId].sort());
  for (const m of g.members) assert.equal(m.transport, "ws");
  await Promise.all([a.close(), b.close(), c.close()]);
});

test("subscribe errors: unknown group, pattern mismatch, consumerId in use, ack mode; the connection stays usable", async () => {
  const { name, pattern, p } = await setup();
  const a = await ws();
  const e1 = await a.subscribe(pattern, { consumerGroup: uniq("ghost"), ackMode: "manual" });
  assert.equal(e1.status, "error", JSON.stringify(e1));
  assert.equal(e1.code, "not_found");
  assert.equal(typeof e1.message, "string");
  assert.equal(e1.pattern, pattern);
  const e2 = await a.subscribe(`${p}.*`, { consumerGroup: name, ackMode: "manual" });
  assert.equal(e2.status, "error", JSON.stringify(e2));
  assert.equal(e2.code, "invalid_argument");
  assert.equal(typeof e2.message, "string");
  const e3 = await a.subscribe(pattern, { consumerGroup: name, ackMode: "auto" });  // a manual group (docs)
  assert.equal(e3.status, "error", JSON.stringify(e3));
  assert.equal(e3.code, "invalid_argument");
  const e4 = await a.subscribe(pattern, { consumerGroup: name, consumerId: "bad id!" });
  assert.equal(e4.status, "error", JSON.stringify(e4));
  assert.equal(e4.code, "invalid_argument");

  const b = await ws();
  await b.join(name, pattern, "dup-1");
  const e5 = await a.subscribe(pattern, { consumerGroup: name, ackMode: "manual", consumerId: "dup-1" });
  assert.equal(e5.status, "error", JSON.stringify(e5));
  assert.equal(e5.code, "already_exists");
  assert.equal(typeof e5.message, "string");
  // The member id is in use for HTTP too.
  assertError(await env.api("POST", `/v1/groups/${name}/fetch`, { body: { member_id: "dup-1" } }), 409, "already_exists", "HTTP fetch as a WS member");
  // After all that, a works.
  await a.join(name, pattern, "dup-2");
  const g = await getGroup(env, name);
  assert.deepEqual(g.members.map((m) => m.id).sort(), ["dup-1", "dup-2"]);
  await Promise.all([a.close(), b.close()]);
});

test("event: camelCase shape with eventId, topic, data/dataBase64, headers, meta, deliveryAttempt", async () => {
  const { stream, p, name, pattern } = await setup({ redeliver_delay_ms: 30000 });
  const a = await ws();
  const { subscriptionId } = await a.join(name, pattern, "shape");
  const s1 = await jpub(env, `${p}.j`, { k: [1, "two", { three: 3 }] }, { "X-Trace": "w-1" });
  const s2 = await jpub(env, `${p}.s`, "plain words");
  const e1 = await a.nextEvent();
  const e2 = await a.nextEvent();
  for (const [e, seq, subj] of [[e1, s1, "j"], [e2, s2, "s"]]) {
    assert.equal(e.type, "event");
    assert.equal(e.subscriptionId, subscriptionId);
    assert.equal(e.eventId, String(seq));
    assert.equal(e.topic, `${p}.${subj}`);
    assert.equal(e.deliveryAttempt, 1);
    assert.equal(typeof e.meta, "object");
    assert.equal(e.meta.sequence, seq);
    assert.match(e.meta.timestamp, RFC3339);
    const sm = await env.jsm.streams.getMessage(stream, { seq });
    assert.ok(Math.abs(Date.parse(e.meta.timestamp) - sm.time.getTime()) < 1000, `${e.meta.timestamp} vs ${sm.time.toISOString()}`);
    for (const snake of ["event_id", "delivery_attempt", "data_base64", "subscription_id"]) assert.equal(e[snake], undefined, snake);
  }
  assert.deepEqual(e1.data, { k: [1, "two", { three: 3 }] });
  assert.equal(e1.dataBase64, undefined);
  assert.deepEqual(e1.headers, { "X-Trace": "w-1" });
  assert.equal(e2.data, "plain words");
  assert.equal(e2.dataBase64, b64("plain words"));
  assert.ok(e2.headers === undefined || Object.keys(e2.headers).length === 0, JSON.stringify(e2.headers));
  await a.close();
});

test("ack → ack_result ok; unknown or acked event → ack_result error not_found; HTTP ack of a WS event counts", async () => {
  const { stream, p, name, pattern } = await setup({ redeliver_delay_ms: 30000 });
  const a = await ws();
  await a.join(name, pattern, "acker");
  const s1 = await jpub(env, `${p}.a`, { n: 1 });
  const s2 = await jpub(env, `${p}.a`, { n: 2 });
  const e1 = await a.nextEvent();
  const e2 = await a.nextEvent();
  const r1 = await a.ackEvent(e1.eventId, "ack");
  assert.deepEqual({ type: r1.type, eventId: r1.eventId, ackType: r1.ackType, status: r1.status },
    { type: "ack_result", eventId: String(s1), ackType: "ack", status: "ok" });
  const bad = await a.ackEvent("987654", "ack");
  assert.equal(bad.status, "error", JSON.stringify(bad));
  assert.equal(bad.code, "not_found");
  assert.equal(typeof bad.message, "string");
  const again = await a.ackEvent(e1.eventId, "ack");
  assert.equal(again.status, "error", JSON.stringify(again));
  assert.equal(again.code, "not_found");
  for (const t of ["nak", "term"]) {
    const r = await a.ackEvent(e1.eventId, t);
    assert.equal(r.status, "error", `${t} after ack: ${JSON.stringify(r)}`);
    assert.equal(r.code, "not_found");
  }
  // e2 acked over HTTP: any connection of the group counts.
  const h = await env.api("POST", `/v1/groups/${name}/ack`, { body: { event_id: e2.eventId } });
  assert.equal(h.status, 200, h.text);
  const g = await getGroup(env, name);
  assert.equal(g.num_ack_pending, 0);
  assert.equal(g.ack_floor_sequence, s2);
  const ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.ack_floor.stream_seq, s2);
  assert.deepEqual(await a.drain((m) => m.type === "event", 300), []);
  await a.close();
});

test("nak with redeliverDelay: back after the delay with deliveryAttempt 2 and the same eventId", async () => {
  const { p, name, pattern } = await setup({ redeliver_delay_ms: 30000 });
  const a = await ws();
  await a.join(name, pattern, "naker");
  const seq = await jpub(env, `${p}.n`, { nak: 1 });
  const e1 = await a.nextEvent();
  const tNak = Date.now();
  const r = await a.ackEvent(e1.eventId, "nak", { redeliverDelay: 1200 });
  assert.equal(r.status, "ok", JSON.stringify(r));
  assert.equal(r.ackType, "nak");
  const e2 = await a.nextEvent(8000);
  const dt = Date.now() - tNak;
  assert.equal(e2.eventId, String(seq));
  assert.equal(e2.deliveryAttempt, 2);
  assert.deepEqual(e2.data, { nak: 1 });
  assert.ok(dt >= 1000, `redelivered ${dt} ms after a nak with redeliverDelay 1200`);
  // nak without a delay: again at once.
  assert.equal((await a.ackEvent(e2.eventId, "nak")).status, "ok");
  const e3 = await a.nextEvent(5000);
  assert.equal(e3.eventId, String(seq));
  assert.equal(e3.deliveryAttempt, 3);
  assert.equal((await a.ackEvent(e3.eventId, "ack")).status, "ok");
  await a.close();
});

test("term: ack_result ok, the event never comes back", async () => {
  const { p, name, pattern } = await setup({ redeliver_delay_ms: 300 });
  const a = await ws();
  await a.join(name, pattern, "termer");
  await jpub(env, `${p}.t`, { t: 1 });
  const e = await a.nextEvent();
  const r = await a.ackEvent(e.eventId, "term");
  assert.equal(r.status, "ok", JSON.stringify(r));
  assert.equal(r.ackType, "term");
  assert.deepEqual(await a.drain((m) => m.type === "event", 1200), []);
  assert.equal((await getGroup(env, name)).num_ack_pending, 0);
  await a.close();
});

test("bad frames: garbage, malformed JSON, unknown type → error invalid_argument; the connection stays open and works", async () => {
  const { p, name, pattern } = await setup({ redeliver_delay_ms: 30000 });
  const a = await ws();
  for (const frame of ["hello", "{\"type\":", "{\"type\":\"dance\"}", "[1,2]", "42", "{}"]) {
    a.sendRaw(frame);
    const err = await a.next((m) => m.type === "error", 3000, `error for ${frame}`);
    assert.equal(err.code, "invalid_argument", `${frame}: ${JSON.stringify(err)}`);
    assert.equal(typeof err.message, "string");
    assert.equal(a.closed, false, `closed after ${frame}`);
  }
  // Known types with missing fields: invalid_argument, as an error or as their result.
  a.send({ type: "subscribe" });
  const r = await a.next((m) => m.type === "error" || m.type === "subscription_result", 3000, "answer to a subscribe without subscription");
  if (r.type === "error") assert.equal(r.code, "invalid_argument");
  else assert.equal(r.results?.[0]?.code, "invalid_argument", JSON.stringify(r));
  a.send({ type: "ack" });
  const r2 = await a.next((m) => m.type === "error" || m.type === "ack_result", 3000, "answer to an ack without eventId");
  if (r2.type === "ack_result") assert.equal(r2.status, "error", JSON.stringify(r2));
  assert.equal(r2.code, "invalid_argument", JSON.stringify(r2));
  await a.join(name, pattern, "survivor");
  await jpub(env, `${p}.ok`, { still: "works" });
  const e = await a.nextEvent();
  assert.deepEqual(e.data, { still: "works" });
  assert.equal((await a.ackEvent(e.eventId)).status, "ok");
  a.sendRaw("more garbage");
  assert.equal((await a.nextType("error")).code, "invalid_argument");
  await jpub(env, `${p}.ok`, { and: "still" });
  const e2 = await a.nextEvent();
  assert.equal((await a.ackEvent(e2.eventId)).status, "ok");
  await a.close();
});

test("load sharing: a fast member gets more; a slow member holds at most max_inflight", async () => {
  const { p, name, pattern } = await setup({ max_inflight: 2, redeliver_delay_ms: 30000 });
  const slow = await ws();
  await slow.join(name, pattern, "slow");
  const fast = await ws();
  await fast.join(name, pattern, "fast");
  const fastIds = [];
  const fastAcked = new Set();
  fast.onMessage = (m) => {
    if (m.type === "event") {
      fastIds.push(m.eventId);
      fast.send({ type: "ack", eventId: m.eventId, ackType: "ack" });
    } else if (m.type === "ack_result" && m.status === "ok") fastAcked.add(m.eventId);
  };
  const N = 30;
  const seqs = [];
  for (let i = 0; i < N; i++) seqs.push(await jpub(env, `${p}.w`, { i }));
  const slowEvents = () => slow.all.filter((m) => m.type === "event");
  await waitFor(() => fastAcked.size + slowEvents().length >= N, { timeout: 10000, what: "all events handed out" });
  await sleep(300);  // a slow member over its limit would show now
  const slowIds = slowEvents().map((m) => m.eventId);
  assert.ok(slowIds.length <= 2, `slow holds ${slowIds.length} > max_inflight 2`);
  assert.ok(fastIds.length >= N - 2, `fast got ${fastIds.length}`);
  assert.ok(fastIds.length > slowIds.length);
  const all = [...fastIds, ...slowIds];
  assert.equal(new Set(all).size, all.length, "an event was held by two members");
  assert.deepEqual([...new Set(all)].map(Number).sort((x, y) => x - y), seqs);
  const g = await getGroup(env, name);
  const byId = Object.fromEntries(g.members.map((m) => [m.id, m]));
  assert.equal(byId.slow.inflight, slowIds.length);
  assert.equal(byId.fast.inflight, 0);
  assert.equal(g.num_ack_pending, slowIds.length);
  await Promise.all([slow.close(), fast.close()]);
});

test("a closed member's events come back to another member after redeliver_delay_ms, deliveryAttempt 2", async () => {
  const delay = 1500;
  const { p, name, pattern } = await setup({ redeliver_delay_ms: delay });
  for (const how of ["close", "terminate"]) {
    const a = await ws();
    await a.join(name, pattern, `leaver-${how}`);
    const seq = await jpub(env, `${p}.c`, { how });
    const e1 = await a.nextEvent();
    const tA = Date.now();
    assert.equal(e1.eventId, String(seq));
    assert.equal(e1.deliveryAttempt, 1);
    const b = await ws();
    await b.join(name, pattern, `taker-${how}`);
    if (how === "close") await a.close();
    else a.terminate();
    const e2 = await b.nextEvent(8000);
    const dt = Date.now() - tA;
    assert.equal(e2.eventId, e1.eventId);
    assert.equal(e2.deliveryAttempt, 2);
    assert.deepEqual(e2.data, { how });
    assert.ok(dt >= delay - 300, `${how}: redelivered ${dt} ms after the first delivery, redeliver_delay_ms ${delay}`);
    assert.equal((await b.ackEvent(e2.eventId)).status, "ok");
    await b.close();
  }
});

test("group DELETE: live members get subscription_error not_found, retrying false", async () => {
  const { name, pattern } = await setup();
  const a = await ws();
  const ra = await a.join(name, pattern, "da");
  const b = await ws();
  const rb = await b.join(name, pattern, "db");
  const res = await env.api("DELETE", `/v1/groups/${name}`);
  assert.equal(res.status, 200, res.text);
  for (const [c, r] of [[a, ra], [b, rb]]) {
    const e = await c.nextType("subscription_error");
    assert.equal(e.subscriptionId, r.subscriptionId);
    assert.equal(e.code, "not_found");
    assert.equal(typeof e.message, "string");
    assert.equal(e.retrying, false);
  }
  await Promise.all([a.close(), b.close()]);
});

test("unsubscribe: the member leaves, the others get the events", async () => {
  const { p, name, pattern } = await setup({ redeliver_delay_ms: 30000 });
  const a = await ws();
  const ra = await a.join(name, pattern, "ua");
  const b = await ws();
  await b.join(name, pattern, "ub");
  a.send({ type: "unsubscribe", subscriptionId: ra.subscriptionId });
  await waitFor(async () => !(await getGroup(env, name)).members.some((m) => m.id === "ua"), { what: "ua gone" });
  const seqs = [];
  for (let i = 0; i < 5; i++) seqs.push(await jpub(env, `${p}.u`, { i }));
  const got = [];
  for (let i = 0; i < 5; i++) got.push(Number((await b.nextEvent()).eventId));
  assert.deepEqual(got.sort((x, y) => x - y), seqs);
  assert.deepEqual(a.all.filter((m) => m.type === "event"), []);
  // The id is free again.
  await a.join(name, pattern, "ua");
  await Promise.all([a.close(), b.close()]);
});

test("one connection, several subscriptions (one member each)", async () => {
  const stream = uniq("S");
  const p = uniq("t");
  await addStream(env, stream, [`${p}.>`]);
  const g1 = await createGroup(env, { name: uniq("g"), pattern: `${p}.a.>` });
  const g2 = await createGroup(env, { name: uniq("g"), pattern: `${p}.b.>` });
  const a = await ws();
  const r1 = await a.join(g1.name, g1.pattern, "multi-1");
  const r2 = await a.join(g2.name, g2.pattern, "multi-2");
  assert.notEqual(r1.subscriptionId, r2.subscriptionId);
  const sa = await jpub(env, `${p}.a.1`, { to: 1 });
  const sb = await jpub(env, `${p}.b.1`, { to: 2 });
  const ea = await a.nextEvent(5000, (m) => m.subscriptionId === r1.subscriptionId);
  const eb = await a.nextEvent(5000, (m) => m.subscriptionId === r2.subscriptionId);
  assert.equal(ea.eventId, String(sa));
  assert.equal(ea.topic, `${p}.a.1`);
  assert.equal(eb.eventId, String(sb));
  assert.equal(eb.topic, `${p}.b.1`);
  assert.equal((await a.ackEvent(ea.eventId)).status, "ok");
  assert.equal((await a.ackEvent(eb.eventId)).status, "ok");
  assert.equal((await getGroup(env, g1.name)).num_ack_pending, 0);
  assert.equal((await getGroup(env, g2.name)).num_ack_pending, 0);
  await a.close();
});

test("ack_mode auto: events count as acknowledged once written; acks are answered ok", async () => {
  const { p, name, pattern } = await setup({ ack_mode: "auto", redeliver_delay_ms: 300 });
  const a = await ws();
  const e0 = await a.subscribe(pattern, { consumerGroup: name, ackMode: "manual" });
  assert.equal(e0.status, "error", JSON.stringify(e0));
  assert.equal(e0.code, "invalid_argument");
  await a.join(name, pattern, "auto-1", { ackMode: "auto" });
  const s1 = await jpub(env, `${p}.a`, { n: 1 });
  const s2 = await jpub(env, `${p}.a`, { n: 2 });
  const e1 = await a.nextEvent();
  const e2 = await a.nextEvent();
  assert.deepEqual([e1.eventId, e2.eventId], [String(s1), String(s2)]);
  const r = await a.ackEvent(e1.eventId);
  assert.equal(r.status, "ok", JSON.stringify(r));
  await waitFor(async () => {
    const g = await getGroup(env, name);
    return g.num_ack_pending === 0 && g.ack_floor_sequence === s2;
  }, { what: "auto acks reach the consumer" });
  assert.deepEqual(await a.drain((m) => m.type === "event", 1000), [], "redelivered although auto-acked");
  await a.close();
});

test("token auth: ?token= and the Authorization header; none or a wrong one is refused", async () => {
  const tok = "ws-s3cret";
  const t = await startGroups({ config: `authorization { token: "${tok}" }\n`, natsOpts: { token: tok } });
  try {
    await t.jsm.streams.add({ name: "WST", subjects: ["wst.>"] });
    const c = await t.api("POST", "/v1/groups", { body: { name: "wg", pattern: "wst.>" }, headers: { authorization: `Bearer ${tok}` } });
    assert.equal(c.status, 201, c.text);
    for (const [what, url, opts] of [["no token", t.wsUrl, {}], ["wrong ?token=", `${t.wsUrl}?token=nope`, {}],
      ["wrong Bearer", t.wsUrl, { headers: { authorization: "Bearer nope" } }]]) {
      await assert.rejects(WsClient.open(url, opts), (e) => {
        assert.equal(e.statusCode, 401, `${what}: ${e.message}`);
        return true;
      }, what);
    }
    const q = await WsClient.open(`${t.wsUrl}?token=${tok}`);
    open.push(q);
    await q.join("wg", "wst.>", "q-1");
    const h = await WsClient.open(t.wsUrl, { headers: { authorization: `Bearer ${tok}` } });
    open.push(h);
    await h.join("wg", "wst.>", "h-1");
    const seq = (await t.js.publish("wst.x", new TextEncoder().encode("{\"a\":1}"))).seq;
    const from = await waitFor(() => [q, h].find((c) => c.queue.some((m) => m.type === "event")), { what: "the event on q or h" });
    const ev = await from.nextEvent();
    assert.equal(ev.eventId, String(seq));
    assert.equal((await from.ackEvent(ev.eventId)).status, "ok");
    await Promise.all([q.close(), h.close()]);
  } finally {
    await t.close();
  }
});

