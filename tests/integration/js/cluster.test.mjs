// Clusters of three servers joined by routes, driven by nats.js 2.x and the modern 3.x client
// (@nats-io/transport-node): clients learn the other servers from INFO and, when the server they
// are on is killed, reconnect to another one with their subscriptions. Run with OSPREY_BIN set
// to osprey or (the differential run) to nats-server: the same expectations hold for both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as connect2, StringCodec } from "nats";
import { connect as connect3 } from "@nats-io/transport-node";
import { freePort, startServer } from "./server.mjs";

const sc = StringCodec();
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

async function startCluster(n = 3) {
  const cports = [];
  for (let i = 0; i < n; i++) cports.push(await freePort());
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const routes = cports.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(",");
    nodes.push(await startServer(["-n", `s${i}`, "--cluster_name", "JS", "--cluster",
      `nats://127.0.0.1:${cports[i]}`, "--routes", routes]));
  }
  // Bounded wait for the full mesh (a loaded machine can take a while: simultaneous dials are
  // resolved by dropping duplicates and dialing again); a mesh that never forms fails here,
  // with the counts, rather than later as a lost message.
  let counts = [];
  for (let t = 0; t < 600; t++) {
    counts = await Promise.all(nodes.map(async (s) => {
      const r = await fetch(`http://127.0.0.1:${s.httpPort}/routez`).then((x) => x.json()).catch(() => ({}));
      return r.num_routes;
    }));
    if (counts.every((c) => c === n - 1)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!counts.every((c) => c === n - 1)) {
    for (const s of nodes) await s.stop();
    throw new Error(`the cluster mesh did not form in 30 s: num_routes ${JSON.stringify(counts)}\n` +
      nodes.map((s) => s.log().slice(-3000)).join("\n----\n"));
  }
  return {
    nodes,
    async stop() { for (const s of nodes) await s.stop(); },
  };
}

// Publishes until the subscription sees one message (interest crossing a route takes a moment).
async function deliverOnce(pub, sub, subject, ms = 15000) {
  // One pending next() for the whole wait: a new next() per round would queue behind the
  // earlier ones, each taking a message meant for the one awaited now, so once the interest
  // took longer than a round (a loaded machine) the wait could never succeed.
  const it = sub[Symbol.asyncIterator]();
  const first = it.next();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    pub.publish(subject, enc("x"));
    await pub.flush().catch(() => {});
    const r = await Promise.race([first, new Promise((res) => setTimeout(() => res(null), 200))]);
    if (r && !r.done) return true;
  }
  return false;
}

for (const [name, connect] of [["nats.js 2.x", connect2], ["@nats-io/transport-node 3.x", connect3]]) {
  test(`${name}: a killed server's clients reconnect to another one`, async () => {
    const c = await startCluster();
    try {
      const nc = await connect({ servers: c.nodes[0].url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      // Node 0 tells the client about the others (INFO connect_urls).
      for (let t = 0; t < 200 && nc.protocol.servers.length() < 3; t++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(nc.protocol.servers.length(), 3);
      const sub = nc.subscribe("after.kill");
      await nc.flush();
      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === "reconnect") return true;
      })();
      await c.nodes[0].kill();
      assert.equal(await reconnected, true);
      const other = await connect({ servers: c.nodes[2].url });
      assert.equal(await deliverOnce(other, sub, "after.kill"), true);
      await other.close();
      await nc.close();
    } finally {
      await c.stop();
    }
  });

  test(`${name}: request and reply across a route`, async () => {
    const c = await startCluster();
    try {
      const responder = await connect({ servers: c.nodes[2].url });
      responder.subscribe("svc.upper", { callback: (_, m) => m.respond(enc(dec(m.data).toUpperCase())) });
      await responder.flush();
      const requester = await connect({ servers: c.nodes[0].url });
      let answer = null;
      for (let t = 0; t < 100 && answer === null; t++) {
        answer = await requester.request("svc.upper", enc("hello"), { timeout: 500 }).catch(() => null);
      }
      assert.ok(answer, "no answer across the route");
      assert.equal(dec(answer.data), "HELLO");
      for (let i = 0; i < 20; i++) {
        const m = await requester.request("svc.upper", enc(`m${i}`), { timeout: 2000 });
        assert.equal(dec(m.data), `M${i}`);
      }
      await requester.close();
      await responder.close();
    } finally {
      await c.stop();
    }
  });
}

test("nats.js 2.x: a queue group spread over three servers gets each message once", async () => {
  const c = await startCluster();
  try {
    const conns = await Promise.all(c.nodes.map((n) => connect2({ servers: n.url })));
    const got = [[], [], []];
    conns.forEach((nc, i) => nc.subscribe("q", { queue: "g", callback: (_, m) => got[i].push(sc.decode(m.data)) }));
    await Promise.all(conns.map((nc) => nc.flush()));
    // Wait until node 0 knows the remote members: a plain probe on each remote node arrives.
    for (const i of [1, 2]) {
      const probe = conns[i].subscribe(`probe.${i}`);
      await conns[i].flush();
      assert.equal(await deliverOnce(conns[0], probe, `probe.${i}`), true);
    }
    for (let i = 0; i < 300; i++) conns[0].publish("q", sc.encode(String(i)));
    await conns[0].flush();
    for (let t = 0; t < 100 && got.flat().length < 300; t++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    const all = got.flat();
    assert.equal(all.length, 300);
    assert.equal(new Set(all).size, 300);
    for (const nc of conns) await nc.close();
  } finally {
    await c.stop();
  }
});
