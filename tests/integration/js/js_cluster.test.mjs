// Replicated JetStream on three servers, driven by nats.js 2.x and the modern 3.x packages
// (@nats-io/jetstream, @nats-io/kv): R3 streams and KV buckets created through any server,
// acknowledged publishes read back from every server, stream info's cluster block, a KV with
// replicas: 3 (put, get, update with revisions, delete, keys) and a stream leader stepdown.
// Run with OSPREY_BIN set to osprey or (the differential run) to nats-server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as connect2, StringCodec } from "nats";
import { connect as connect3 } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { freePort, startServer, writeConfig } from "./server.mjs";

const sc = StringCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startJsCluster() {
  process.env.OSPREY_DEV_JS_CLUSTER = "1";  // osprey's gate while replication is being built
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
    for (let t = 0; t < 50 && !pa; t++) pa = await js.publish("r3.e", sc.encode("after")).catch(() => sleep(100));
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
