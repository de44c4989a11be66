// Replicated JetStream on three servers, driven by nats.js 2.x and the modern 3.x packages
// (@nats-io/jetstream, @nats-io/kv, @nats-io/obj): R3 streams and KV buckets created through any
// server, acknowledged publishes read back from every server, stream info's cluster block, a KV
// with replicas: 3 (put, get, update with revisions, delete, keys) and a stream leader stepdown.
// Replicated (R3) durable consumers and stores, each client on a server that is not the
// stream's leader so that deliveries cross a route: a 2.x pull consumer and a 3.x pull consumer
// (fetch, then consume()) whose AckSync-confirmed acks survive a stream / consumer leader
// stepdown (nothing confirmed comes again, everything else comes, ack floor at the end), a 2.x
// push consumer whose deliveries keep each message's own subject across routes and a stepdown,
// a KV watcher that gets every put under its key, and a ~200 KB object read back elsewhere.
// Run with OSPREY_BIN set to osprey or (the differential run) to nats-server; the few checks
// nats-server 2.9 is known to be weaker at are osprey-only and print what nats-server did.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connect2, StringCodec, AckPolicy, consumerOpts, createInbox } from "nats";
import { connect as connect3 } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { freePort, startServer, writeConfig } from "./server.mjs";

const sc = StringCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startJsCluster() {
  const cports = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "osprey-jsc-"));
  const routes = cports.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const conf = writeConfig(`server_name: n${i}\njetstream { store_dir: "${dir}/n${i}" }\n` +
      `cluster { name: JSC, listen: 127.0.0.1:${cports[i]}, routes: [${routes}] }\n`);
    nodes.push(await startServer(["-c", conf]));
  }
  // Bounded wait for a meta leader that every server names.
  let leaders = [];
  for (let t = 0; t < 400; t++) {
    leaders = await Promise.all(nodes.map(async (s) => {
      const j = await fetch(`http://127.0.0.1:${s.httpPort}/jsz`).then((x) => x.json()).catch(() => ({}));
      return j.meta_cluster?.leader ?? "";
    }));
    if (leaders[0] && leaders.every((l) => l === leaders[0])) break;
    await sleep(50);
  }
  if (!leaders[0] || !leaders.every((l) => l === leaders[0]))
    throw new Error(`no meta leader: ${JSON.stringify(leaders)}\n` + nodes.map((s) => s.log().slice(-2000)).join("\n---\n"));
  return {
    nodes,
    async stop() {
      for (const s of nodes) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function jszMessages(s) {
  const j = await fetch(`http://127.0.0.1:${s.httpPort}/jsz`).then((x) => x.json());
  return j.messages;
}

test("nats.js 2.x: an R3 stream through any server; every server holds every acked message", async () => {
  const c = await startJsCluster();
  try {
    const nc = await connect2({ servers: c.nodes[1].url });
    const jsm = await nc.jetstreamManager();
    const si = await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
    assert.equal(si.config.num_replicas, 3);
    assert.equal(si.cluster.name, "JSC");
    const js = nc.jetstream();
    const n = 200;
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => js.publish("r3.e", sc.encode(`m${i}`))));
    assert.deepEqual(acks.map((a) => a.seq).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i + 1));
    let counts = [];
    for (let t = 0; t < 200; t++) {
      counts = await Promise.all(c.nodes.map(jszMessages));
      if (counts.every((x) => x === n)) break;
      await sleep(50);
    }
    assert.deepEqual(counts, [n, n, n]);
    const info = await jsm.streams.info("R3");
    assert.equal(info.state.messages, n);
    assert.ok(info.cluster.leader);
    assert.equal(info.cluster.replicas.length, 2);
    // Listing and the account info come from the meta leader, whichever server asks.
    const listed = await jsm.streams.list().next();
    assert.deepEqual(listed.map((x) => x.config.name), ["R3"]);
    assert.equal(listed[0].cluster.name, "JSC");
    assert.equal((await jsm.getAccountInfo()).streams, 1);
    const m = await jsm.streams.getMessage("R3", { seq: 7 });
    assert.equal(sc.decode(m.data), "m6");  // one connection: published in order, stored in order
    // A stepdown hands the stream to another server; publishing goes on.
    const before = info.cluster.leader;
    const r = await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.R3", new Uint8Array(0), { timeout: 5000 });
    assert.equal(JSON.parse(sc.decode(r.data)).success, true);
    let after = before;
    for (let t = 0; t < 100 && after === before; t++) {
      await sleep(50);
      after = (await jsm.streams.info("R3").catch(() => ({ cluster: {} }))).cluster.leader ?? before;
    }
    assert.notEqual(after, before);
    let pa;
    // A retried publish carries a message id: an attempt that timed out but was stored is then
    // a duplicate (same sequence), not a second message.
    for (let t = 0; t < 50 && !pa; t++) pa = await js.publish("r3.e", sc.encode("after"), { msgID: "after" }).catch(() => sleep(100));
    assert.equal(pa.seq, n + 1);
    await nc.close();
  } finally {
    await c.stop();
  }
});

test("@nats-io/kv 3.x: a KV bucket with replicas: 3", async () => {
  const c = await startJsCluster();
  try {
    const nc = await connect3({ servers: c.nodes[2].url });
    const kvm = new Kvm(nc);
    const kv = await kvm.create("cfg", { replicas: 3 });
    const r1 = await kv.put("a", "1");
    const r2 = await kv.put("b", "2");
    assert.equal(r2, r1 + 1);
    assert.equal((await kv.get("a")).string(), "1");
    const r3 = await kv.update("a", "11", r1);
    assert.equal(r3, r2 + 1);
    await assert.rejects(kv.update("a", "x", r1), "an update from a stale revision is refused");
    await kv.delete("b");
    assert.equal(await kv.get("b").then((e) => e?.operation), "DEL");
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.info("KV_cfg");
    assert.equal(si.config.num_replicas, 3);
    assert.equal(si.cluster.replicas.length, 2);
    await nc.close();
  } finally {
    await c.stop();
  }
});

test("advisories: a new stream leader and the create are announced in the account", async () => {
  const c = await startJsCluster();
  try {
    const nc = await connect2({ servers: c.nodes[0].url });
    const seen = [];
    const sub = nc.subscribe("$JS.EVENT.ADVISORY.STREAM.>", { callback: (_, m) => seen.push({ subject: m.subject, body: JSON.parse(sc.decode(m.data)) }) });
    await nc.flush();
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: "ADV", subjects: ["adv.>"], num_replicas: 3 });
    const elected = () => seen.filter((x) => x.subject === "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV");
    for (let t = 0; t < 100 && (elected().length < 1 || !seen.some((x) => x.subject.endsWith("CREATED.ADV"))); t++) await sleep(50);
    const e = elected();
    assert.ok(e.length >= 1, JSON.stringify(seen));
    assert.equal(e[0].body.type, "io.nats.jetstream.advisory.v1.stream_leader_elected");
    assert.equal(e[0].body.stream, "ADV");
    assert.equal(e[0].body.replicas.length, 3);
    const info = await jsm.streams.info("ADV");
    assert.equal(e[e.length - 1].body.leader, info.cluster.leader);
    const created = seen.find((x) => x.subject === "$JS.EVENT.ADVISORY.STREAM.CREATED.ADV");
    assert.ok(created, JSON.stringify(seen));
    assert.equal(created.body.action, "create");
    sub.unsubscribe();
    await nc.close();
  } finally {
    await c.stop();
  }
});

// ---- Replicated durable consumers and stores -------------------------------------------------

// The differential run: nats-server 2.9 is weaker in a few places (its consumer leader is
// elected apart from the stream's, and it may redeliver confirmed acks after a leader change);
// those checks hold for osprey and only print what nats-server did.
const isNatsServer = /nats-server/.test(process.env.OSPREY_BIN ?? "");
const ns = (ms) => ms * 1_000_000;
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
// A wall-clock bound for loops whose steps may each wait for a request's timeout.
const within = (ms) => { const end = Date.now() + ms; return () => Date.now() < end; };

function logTails(c, n = 3000) {
  return c.nodes.map((s, i) => `--- n${i} log tail:\n` + s.log().slice(-n)).join("\n");
}

// The leader stream / consumer info names, or "" while there is none (during an election).
async function streamLeader(jsm, stream) {
  return (await jsm.streams.info(stream).catch(() => null))?.cluster?.leader ?? "";
}
async function consumerLeader(jsm, stream, name) {
  return (await jsm.consumers.info(stream, name).catch(() => null))?.cluster?.leader ?? "";
}

// Bounded wait (~15 s: nats-server's elections after a stepdown take seconds) for get() to
// name a leader other than `before`. An info request nobody answers while leadership moves
// costs its whole timeout, hence the clock as well as the count.
async function waitNewLeader(c, what, get, before) {
  let now = "";
  const open = within(15000);
  for (let t = 0; t < 150 && open(); t++) {
    now = await get();
    if (now && now !== before) return now;
    await sleep(100);
  }
  throw new Error(`${what}: no leader other than ${before} after 15 s (now "${now}")\n` + logTails(c));
}

// Index of a server that is not `leader` (nor any of `also`): a client there gets its
// deliveries across a route. Servers are n0..n2 and c.nodes[i] is n<i>.
function notLeader(leader, ...also) {
  for (let i = 0; i < 3; i++) if (`n${i}` !== leader && !also.includes(i)) return i;
  throw new Error(`no server other than ${leader} ${also}`);
}

async function stepdown(nc, subject) {
  const r = await nc.request(subject, new Uint8Array(0), { timeout: 5000 });
  return JSON.parse(sc.decode(r.data));
}

// osprey leads a durable of an R3 stream on the stream leader; nats-server elects the
// consumer's own raft leader, so there it is only printed.
function assertLedByStreamLeader(consumerLeaderName, streamLeaderName, when) {
  if (consumerLeaderName === streamLeaderName) return;
  if (isNatsServer) {
    console.log(`nats-server (${when}): consumer leader ${consumerLeaderName}, stream leader ${streamLeaderName}`);
    return;
  }
  assert.equal(consumerLeaderName, streamLeaderName, `${when}: consumer info cluster.leader is the stream's leader`);
}

// What a pull consumer delivered, for both client generations (2.x and 3.x JsMsg): every
// message is acked with AckSync (ackAck). A sequence whose ackAck was confirmed must never be
// delivered again; one whose ackAck failed (a timeout while leadership moves) may come again
// after ack_wait and is acked again.
function ackLedger() {
  return {
    confirmed: new Set(),
    again: [],      // deliveries of already confirmed sequences
    failed: [],     // ackAcks that did not confirm
    errors: [],     // fetch / consume errors while leadership moved
    bad: [],        // payload not the one published at that sequence
    async take(m, phase) {
      const seq = m.seq;
      if (this.confirmed.has(seq))
        this.again.push({ seq, phase, deliveryCount: m.info.deliveryCount ?? m.info.redeliveryCount });
      if (sc.decode(m.data) !== `m${seq}`) this.bad.push({ seq, data: sc.decode(m.data) });
      const ok = await m.ackAck({ timeout: 2000 }).catch((e) => e);
      if (ok === true) this.confirmed.add(seq);
      else this.failed.push({ seq, phase, ok: String(ok) });
      return ok;
    },
    hasAll(n) { return range(1, n).every((s) => this.confirmed.has(s)); },
    missing(n) { return range(1, n).filter((s) => !this.confirmed.has(s)); },
  };
}

// Deliveries of confirmed sequences: none for osprey; printed for nats-server.
function assertNothingConfirmedCameAgain(led, what) {
  if (led.again.length === 0) return;
  if (isNatsServer) {
    console.log(`nats-server (${what}): redelivered sequences whose ackAck was confirmed: ${JSON.stringify(led.again)}`);
    return;
  }
  assert.deepEqual(led.again, [], `${what}: a sequence whose ackAck was confirmed came again`);
}

test("nats.js 2.x: an R3 durable pull consumer on a non-leader keeps its acks across a stream leader stepdown", async () => {
  const c = await startJsCluster();
  const conns = [];
  try {
    const admin = await connect2({ servers: c.nodes[0].url });
    conns.push(admin);
    const ajsm = await admin.jetstreamManager();
    await ajsm.streams.add({ name: "PULL", subjects: ["pull.>"], num_replicas: 3 });
    const leader = await streamLeader(ajsm, "PULL");
    assert.ok(leader, "the stream has a leader");
    const nc = await connect2({ servers: c.nodes[notLeader(leader)].url });
    conns.push(nc);
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    // One by one, so that message i is at sequence i.
    for (let i = 1; i <= 50; i++) assert.equal((await js.publish("pull.e", sc.encode(`m${i}`))).seq, i);
    // ack_wait 3 s: a lost ack shows up as a redelivery within the test.
    const ci = await jsm.consumers.add("PULL", { durable_name: "d", ack_policy: AckPolicy.Explicit, ack_wait: ns(3000) });
    assert.equal(ci.cluster?.replicas?.length, 2, "an R3 stream's durable lives on every replica: " + JSON.stringify(ci.cluster));
    assertLedByStreamLeader(ci.cluster.leader, leader, "created");
    const cons = await js.consumers.get("PULL", "d");
    const led = ackLedger();
    const first = within(15000);
    for (let t = 0; t < 20 && first() && led.confirmed.size < 20; t++) {
      const b = await cons.fetch({ max_messages: 20 - led.confirmed.size, expires: 1000 });
      for await (const m of b) assert.equal(await led.take(m, "before"), true, `ackAck of ${m.seq} before the stepdown`);
    }
    assert.deepEqual([...led.confirmed].sort((a, b) => a - b), range(1, 20));
    const mid = await jsm.consumers.info("PULL", "d");
    assert.equal(mid.ack_floor.stream_seq, 20);
    assert.equal(mid.num_pending, 30);

    const sd = await stepdown(nc, "$JS.API.STREAM.LEADER.STEPDOWN.PULL");
    assert.equal(sd.success, true, JSON.stringify(sd));
    const newLeader = await waitNewLeader(c, "stream PULL", () => streamLeader(jsm, "PULL"), leader);
    // Pull from whoever leads now; errors and empty batches while the consumer's leadership
    // settles are retried (bounded), failed ackAcks come again after ack_wait.
    const open = within(20000);
    for (let t = 0; t < 30 && open() && !led.hasAll(50); t++) {
      try {
        const b = await cons.fetch({ max_messages: 10, expires: 1000 });
        for await (const m of b) await led.take(m, "after");
      } catch (e) {
        led.errors.push(String(e));
        await sleep(200);
      }
    }
    assert.ok(led.hasAll(50), `missing after the stepdown: ${led.missing(50)}; failed acks ${JSON.stringify(led.failed)}; ` +
      `errors ${JSON.stringify(led.errors)}\n` + logTails(c));
    // Quiet for longer than ack_wait: an ack that was confirmed but lost would come back now.
    const q = await cons.fetch({ max_messages: 10, expires: 4000 });
    for await (const m of q) await led.take(m, "quiet");
    assert.deepEqual(led.bad, []);
    // Neither 1..20 (confirmed before the stepdown) nor anything confirmed after it comes again.
    assertNothingConfirmedCameAgain(led, "2.x pull, stream stepdown");
    const fin = await jsm.consumers.info("PULL", "d");
    assert.equal(fin.ack_floor.stream_seq, 50, JSON.stringify(fin));
    assert.equal(fin.num_pending, 0);
    assert.equal(fin.num_ack_pending, 0);
    assertLedByStreamLeader(fin.cluster.leader, await streamLeader(jsm, "PULL"), "after the stepdown");
    if (led.failed.length || led.errors.length)
      console.log(`2.x pull across the stepdown to ${newLeader}: failed acks ${JSON.stringify(led.failed)}, errors ${JSON.stringify(led.errors)}`);
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await c.stop();
  }
});

test("nats.js 2.x: an R3 durable push consumer delivers across routes under each message's own subject, across a stepdown", async () => {
  const c = await startJsCluster();
  const conns = [];
  try {
    const admin = await connect2({ servers: c.nodes[0].url });
    conns.push(admin);
    const jsm = await admin.jetstreamManager();
    const js = admin.jetstream();
    await jsm.streams.add({ name: "PUSH", subjects: ["r3.>"], num_replicas: 3 });
    const leader = await streamLeader(jsm, "PUSH");
    assert.ok(leader);
    const ia = notLeader(leader);
    const ib = notLeader(leader, ia);
    const inbox = createInbox();
    await jsm.consumers.add("PUSH", { durable_name: "p", deliver_subject: inbox, ack_policy: AckPolicy.Explicit, ack_wait: ns(3000) });
    // Two subscribers, one on each non-leader server, so that after the stepdown at least one
    // of them still gets its deliveries across a route: A is the nats.js push subscription
    // bound to the durable and acks; B is a plain subscription to the deliver subject. Both
    // must see each message under the subject it was published to, never the inbox.
    const got = { A: new Map(), B: new Map() };
    const wrong = [];
    const record = (who, subject, data) => {
      const [want, n] = data.split(" ");
      if (subject !== want) wrong.push({ who, subject, want, n });
      got[who].set(Number(n), subject);
    };
    const nca = await connect2({ servers: c.nodes[ia].url });
    conns.push(nca);
    const opts = consumerOpts();
    opts.bind("PUSH", "p");  // bound first: the durable is not push-bound yet
    opts.manualAck();
    const subA = await nca.jetstream().subscribe("r3.>", opts);
    const loopA = (async () => { for await (const m of subA) { record("A", m.subject, sc.decode(m.data)); m.ack(); } })();
    const ncb = await connect2({ servers: c.nodes[ib].url });
    conns.push(ncb);
    ncb.subscribe(inbox, { callback: (_, m) => record("B", m.subject, sc.decode(m.data)) });
    await nca.flush();
    await ncb.flush();
    const subjectOf = (n) => (n % 2 ? "r3.e" : "r3.f.g");
    const publish = async (n) => {
      const open = within(15000);
      for (let t = 0; t < 50 && open(); t++) {
        // With a message id, so that an attempt that timed out but was stored (a slow commit
        // right after the stepdown) makes the retry a duplicate, not a 41st message.
        const pa = await js.publish(subjectOf(n), sc.encode(`${subjectOf(n)} ${n}`), { timeout: 2000, msgID: `p${n}` }).catch(() => null);
        if (pa) return pa;
        await sleep(100);
      }
      throw new Error(`publish ${n} not acked`);
    };
    const waitAll = async (n, tries) => {
      for (let t = 0; t < tries && !(range(1, n).every((i) => got.A.has(i) && got.B.has(i))); t++) await sleep(100);
      const miss = (who) => range(1, n).filter((i) => !got[who].has(i));
      assert.deepEqual({ A: miss("A"), B: miss("B") }, { A: [], B: [] }, `undelivered of 1..${n}\n` + logTails(c));
    };
    for (let n = 1; n <= 20; n++) await publish(n);
    await waitAll(20, 50);
    const sd = await stepdown(admin, "$JS.API.STREAM.LEADER.STEPDOWN.PUSH");
    assert.equal(sd.success, true, JSON.stringify(sd));
    await waitNewLeader(c, "stream PUSH", () => streamLeader(jsm, "PUSH"), leader);
    for (let n = 21; n <= 40; n++) await publish(n);
    await waitAll(40, 150);
    assert.deepEqual(wrong, [], `deliveries under another subject than published (inbox ${inbox})`);
    // A acked everything: bounded wait for the acks to land (m.ack() is not confirmed).
    let ci;
    const open = within(10000);
    for (let t = 0; t < 50 && open(); t++) {
      ci = await jsm.consumers.info("PUSH", "p").catch(() => null);
      if (ci?.num_ack_pending === 0 && ci?.num_pending === 0) break;
      await sleep(100);
    }
    assert.equal(ci?.num_pending, 0, JSON.stringify(ci));
    assert.equal(ci?.num_ack_pending, 0, JSON.stringify(ci));
    assert.equal(ci.ack_floor.stream_seq, 40);
    assertLedByStreamLeader(ci.cluster.leader, await streamLeader(jsm, "PUSH"), "push, after the stepdown");
    subA.unsubscribe();
    await loopA;
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await c.stop();
  }
});

test("@nats-io/jetstream 3.x: an R3 durable pull consumer, fetch then consume(), across a consumer leader stepdown", async () => {
  const c = await startJsCluster();
  const conns = [];
  try {
    const admin = await connect3({ servers: c.nodes[1].url });
    conns.push(admin);
    await (await jetstreamManager(admin)).streams.add({ name: "C3", subjects: ["c3.>"], num_replicas: 3 });
    const leader = await streamLeader(await jetstreamManager(admin), "C3");
    assert.ok(leader);
    const nc = await connect3({ servers: c.nodes[notLeader(leader)].url });
    conns.push(nc);
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    for (let i = 1; i <= 40; i++) assert.equal((await js.publish("c3.e", `m${i}`)).seq, i);
    await jsm.consumers.add("C3", { durable_name: "d3", ack_policy: AckPolicy.Explicit, ack_wait: ns(3000) });
    const cons = await js.consumers.get("C3", "d3");
    const led = ackLedger();
    const first = within(15000);
    for (let t = 0; t < 15 && first() && led.confirmed.size < 15; t++) {
      const b = await cons.fetch({ max_messages: 15 - led.confirmed.size, expires: 1000 });
      for await (const m of b) assert.equal(await led.take(m, "before"), true, `ackAck of ${m.seq} before the stepdown`);
    }
    assert.deepEqual([...led.confirmed].sort((a, b) => a - b), range(1, 15));
    const cl = await consumerLeader(jsm, "C3", "d3");
    assertLedByStreamLeader(cl, leader, "3.x, created");
    const sd = await stepdown(nc, "$JS.API.CONSUMER.LEADER.STEPDOWN.C3.d3");
    assert.equal(sd.success, true, JSON.stringify(sd));
    await waitNewLeader(c, "consumer C3/d3", () => consumerLeader(jsm, "C3", "d3"), cl);
    // consume() re-pulls by itself (heartbeats) while leadership settles. Once everything is
    // confirmed it keeps consuming for longer than ack_wait, so that a lost ack would show.
    const msgs = await cons.consume({ max_messages: 10, expires: 2000 });
    const guard = setTimeout(() => msgs.stop(), 25000);
    let quiet;
    try {
      for await (const m of msgs) {
        await led.take(m, "after");
        if (!quiet && led.hasAll(40)) quiet = setTimeout(() => msgs.stop(), 4000);
      }
    } finally {
      clearTimeout(guard);
      clearTimeout(quiet);
    }
    assert.ok(led.hasAll(40), `missing after the stepdown: ${led.missing(40)}; failed acks ${JSON.stringify(led.failed)}\n` + logTails(c));
    assert.deepEqual(led.bad, []);
    assertNothingConfirmedCameAgain(led, "3.x pull, consumer stepdown");
    const fin = await jsm.consumers.info("C3", "d3");
    assert.equal(fin.ack_floor.stream_seq, 40, JSON.stringify(fin));
    assert.equal(fin.num_pending, 0);
    assert.equal(fin.num_ack_pending, 0);
    assertLedByStreamLeader(fin.cluster.leader, await streamLeader(jsm, "C3"), "3.x, after the consumer stepdown");
    if (led.failed.length) console.log(`3.x pull across the consumer stepdown: failed acks ${JSON.stringify(led.failed)}`);
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await c.stop();
  }
});

test("@nats-io/kv 3.x: a watcher on a server that is not the bucket's leader gets every put under its key", async () => {
  const c = await startJsCluster();
  const conns = [];
  try {
    const nc0 = await connect3({ servers: c.nodes[0].url });
    conns.push(nc0);
    const kv = await new Kvm(nc0).create("watched", { replicas: 3 });
    await kv.put("pre.existing", "0");
    const leader = await streamLeader(await jetstreamManager(nc0), "KV_watched");
    assert.ok(leader);
    const ncw = await connect3({ servers: c.nodes[notLeader(leader)].url });
    conns.push(ncw);
    const w = await (await new Kvm(ncw).open("watched")).watch();
    const seen = [];
    const loop = (async () => {
      for await (const e of w) seen.push([e.key, e.operation === "PUT" ? e.string() : e.operation, e.revision]);
    })();
    // The watcher takes each key from its delivery's subject ($KV.watched.<key>): keys with
    // dots, slashes and the other allowed characters must come through a route intact.
    const puts = [["alpha", "1"], ["b.c", "2"], ["d/e", "3"], ["f_g-h=i", "4"], ["alpha", "5"]];
    for (const [k, v] of puts) await kv.put(k, v);
    await kv.delete("b.c");
    const want = [["pre.existing", "0"], ...puts, ["b.c", "DEL"]].map(([k, v], i) => [k, v, i + 1]);
    for (let t = 0; t < 100 && seen.length < want.length; t++) await sleep(50);
    w.stop();
    await loop;
    assert.deepEqual(seen, want, "\n" + logTails(c));
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await c.stop();
  }
});

test("@nats-io/obj 3.x: a ~200 KB object in an R3 store, read back through another server", async () => {
  const c = await startJsCluster();
  const conns = [];
  try {
    const nc0 = await connect3({ servers: c.nodes[0].url });
    conns.push(nc0);
    const os = await new Objm(nc0).create("files", { replicas: 3 });
    const data = randomBytes(200 * 1024);
    const put = await os.putBlob({ name: "blob.bin" }, data);
    assert.equal(put.size, data.length);
    assert.ok(put.chunks >= 2, `several chunks: ${put.chunks}`);
    const si = await (await jetstreamManager(nc0)).streams.info("OBJ_files");
    assert.equal(si.config.num_replicas, 3);
    // Neither the writer's server nor the leader: the chunks come across a route.
    const nc1 = await connect3({ servers: c.nodes[notLeader(si.cluster.leader, 0)].url });
    conns.push(nc1);
    const os1 = await new Objm(nc1).open("files");
    const info = await os1.info("blob.bin");
    assert.equal(info.digest, put.digest);
    const got = await os1.getBlob("blob.bin");
    assert.ok(got, "the object is found");
    assert.equal(got.length, data.length);
    assert.equal(Buffer.compare(Buffer.from(got), data), 0, "the bytes read back are the bytes put");
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await c.stop();
  }
});

test("@nats-io/kv 3.x: a bucket scaled from 1 to 3 replicas and back; a stream peer removed", async () => {
  const c = await startJsCluster();
  const conns = [];
  try {
    const nc = await connect3({ servers: c.nodes[0].url });
    conns.push(nc);
    const kvm = new Kvm(nc);
    const kv = await kvm.create("scaled", { replicas: 1 });
    for (let i = 0; i < 20; i++) await kv.put(`k${i}`, `v${i}`);
    const jsm = await jetstreamManager(nc);
    const stream = "KV_scaled";
    // Up to three: every server ends up holding the 20 values, and a read through each of the
    // new replicas as leader sees them.
    const cfg = (await jsm.streams.info(stream)).config;
    const up = await jsm.streams.update(stream, { ...cfg, num_replicas: 3 });
    assert.equal(up.config.num_replicas, 3);
    let counts = [];
    for (let t = 0; t < 300; t++) {
      counts = await Promise.all(c.nodes.map(jszMessages));
      if (counts.every((x) => x === 20)) break;
      await sleep(100);
    }
    assert.deepEqual(counts, [20, 20, 20], "\n" + logTails(c));
    let info;
    for (let t = 0; t < 100; t++) {
      info = await jsm.streams.info(stream);
      if (info.cluster.leader && info.cluster.replicas?.length === 2 && info.cluster.replicas.every((r) => r.current)) break;
      await sleep(100);
    }
    assert.equal(info.cluster.replicas.length, 2);
    const first = info.cluster.leader;
    await stepdown(nc, `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`);
    const second = await waitNewLeader(c, "stream", () => streamLeader(jsm, stream), first);
    assert.notEqual(second, first);
    assert.equal((await kv.get("k7"))?.string(), "v7", "read through the new leader");
    let put;
    for (let t = 0; t < 50 && !put; t++) put = await kv.put("after", "1").catch(() => sleep(100));
    assert.ok(put, "a put after the stepdown");
    // A peer removed: with no free server the group shrinks to two and the answer says so.
    const victim = (await jsm.streams.info(stream)).cluster.replicas[0].name;
    const r = await nc.request(`$JS.API.STREAM.PEER.REMOVE.${stream}`, JSON.stringify({ peer: victim }), { timeout: 5000 });
    const body = JSON.parse(new TextDecoder().decode(r.data));
    assert.equal(body.error?.err_code, 10075, JSON.stringify(body));
    for (let t = 0; t < 100; t++) {
      info = await jsm.streams.info(stream).catch(() => info);
      if ((info.cluster.replicas ?? []).length === 1 && !info.cluster.replicas.some((x) => x.name === victim)) break;
      await sleep(100);
    }
    assert.deepEqual((info.cluster.replicas ?? []).map((x) => x.name).includes(victim), false);
    // Down to one: the bucket goes on, with every value.
    const down = await jsm.streams.update(stream, { ...cfg, num_replicas: 1 });
    assert.equal(down.config.num_replicas, 1);
    for (let t = 0; t < 100; t++) {
      counts = await Promise.all(c.nodes.map(jszMessages));
      if (counts.filter((x) => x === 0).length === 2) break;
      await sleep(100);
    }
    assert.equal(counts.filter((x) => x === 0).length, 2, `the other two deleted their copies: ${counts}\n` + logTails(c));
    assert.equal((await kv.get("k19"))?.string(), "v19");
    assert.equal((await kv.get("after"))?.string(), "1");
  } finally {
    for (const x of conns) await x.close().catch(() => {});
    await c.stop();
  }
});
