// Consumer groups in a three-server JetStream cluster: a group on an R3 stream is a
// replicated durable consumer; members on every server share it (each event to one of them),
// acks on the server that delivered an event count, and the group outlives the loss of the
// server it was created on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { freePort, startServer, writeConfig } from "../server.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startCluster() {
  const cports = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "osprey-groups-cluster-"));
  const routes = cports.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    const conf = writeConfig(`server_name: g${i}\njetstream { store_dir: "${dir}/g${i}" }\n` +
      `cluster { name: GRP, listen: 127.0.0.1:${cports[i]}, routes: [${routes}] }\n`);
    nodes.push(await startServer(["-c", conf]));
  }
  for (let t = 0; t < 400; t++) {
    const leaders = await Promise.all(nodes.map(async (s) => {
      const j = await fetch(`http://127.0.0.1:${s.httpPort}/jsz`).then((x) => x.json()).catch(() => ({}));
      return j.meta_cluster?.leader ?? "";
    }));
    if (leaders[0] && leaders.every((l) => l === leaders[0])) break;
    await sleep(50);
  }
  return {
    nodes,
    http: (i) => `http://127.0.0.1:${nodes[i].httpPort}`,
    async stop() {
      for (const s of nodes) await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function post(url, body) {
  const r = await fetch(url, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(15000) });
  return { status: r.status, json: await r.json() };
}

test("a group on an R3 stream: members on three servers share it, acks count, it survives its server", async () => {
  const c = await startCluster();
  const nc = await connect({ servers: c.nodes.map((n) => n.url) });
  try {
    const jsm = await nc.jetstreamManager();
    for (let i = 0; ; i++) {
      try { await jsm.streams.add({ name: "CORD", subjects: ["cord.>"], num_replicas: 3 }); break; } catch (e) {
        if (i >= 40) throw e;
        await sleep(250);
      }
    }
    const created = await post(`${c.http(1)}/v1/groups`, { name: "cg", pattern: "cord.>", redeliver_delay_ms: 2000 });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const ci = await jsm.consumers.info("CORD", "cg");
    assert.equal(ci.config.num_replicas ?? 0, 0);  // the stream's replicas
    assert.equal(ci.cluster.replicas.length, 2);

    const js = nc.jetstream();
    const N = 9;
    for (let i = 0; i < N; i++) await js.publish(`cord.${i}`, `e${i}`, { msgID: `e${i}` });
    // Members on every server take turns until all N are acked; no event twice.
    const seen = new Map();
    for (let round = 0; seen.size < N && round < 30; round++) {
      const i = round % 3;
      const f = await post(`${c.http(i)}/v1/groups/cg/fetch`, { member_id: `m${i}`, max: 2, wait_ms: 500 });
      assert.equal(f.status, 200, JSON.stringify(f.json));
      for (const e of f.json.events) {
        assert.ok(!seen.has(e.event_id), `event ${e.event_id} delivered twice`);
        seen.set(e.event_id, i);
        const a = await post(`${c.http(i)}/v1/groups/cg/ack`, { event_id: e.event_id });
        assert.equal(a.status, 200, JSON.stringify(a.json));
      }
    }
    assert.equal(seen.size, N);
    assert.ok(new Set(seen.values()).size >= 2, "members on several servers got events");
    const after = await jsm.consumers.info("CORD", "cg");
    assert.equal(after.ack_floor.stream_seq, N);
    assert.equal(after.num_ack_pending, 0);

    // The server the group was created on goes; the group (its replicated consumer) stays.
    await c.nodes[1].stop();
    // (The stream may be electing a new leader: retry with the same id, stored once.)
    for (let t = 0; ; t++) {
      try { await js.publish("cord.late", "late", { msgID: "late", timeout: 2000 }); break; } catch (e) {
        if (t >= 20) throw e;
        await sleep(250);  // no responders while the client reconnects elsewhere
      }
    }
    let got = null;
    for (let t = 0; t < 40 && !got; t++) {
      const f = await post(`${c.http(0)}/v1/groups/cg/fetch`, { member_id: "m0", max: 1, wait_ms: 500 });
      if (f.status === 200 && f.json.events.length) got = f.json.events[0];
      else await sleep(250);
    }
    assert.ok(got, "the group delivers after its server stopped");
    assert.equal(got.data, "late");
    const g = await fetch(`${c.http(2)}/v1/groups/cg`).then((r) => r.json());
    assert.equal(g.name, "cg");
    assert.equal(g.stream, "CORD");
  } finally {
    await nc.close().catch(() => {});
    await c.stop();
  }
});
