// JetStream consumers with nats.js: pull fetch and consume, push, acks and redelivery,
// consumer info/list/delete, KV watch/keys/history built on them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, AckPolicy, DeliverPolicy, consumerOpts, createInbox } from "nats";
import { startJetStream } from "./server.mjs";

const sc = StringCodec();
let env, srv, nc, jsm, js;

before(async () => {
  env = await startJetStream();
  ({ srv, nc, jsm, js } = env);
});
after(async () => { await env.close(); });

test("durable pull consumer: fetch, ack, info, list, delete", async () => {
  await jsm.streams.add({ name: "WORK", subjects: ["work.*"] });
  for (let i = 0; i < 10; i++) await js.publish("work.item", sc.encode(`job-${i}`));
  const ci = await jsm.consumers.add("WORK", { durable_name: "workers", ack_policy: AckPolicy.Explicit });
  assert.equal(ci.num_pending, 10);
  assert.equal(ci.config.ack_wait, 30_000_000_000);
  assert.equal(ci.config.max_waiting, 512);
  const c = await js.consumers.get("WORK", "workers");
  const got = [];
  const batch = await c.fetch({ max_messages: 4, expires: 2000 });
  for await (const m of batch) {
    got.push(sc.decode(m.data));
    m.ack();
  }
  assert.deepEqual(got, ["job-0", "job-1", "job-2", "job-3"]);
  await nc.flush();
  const info = await jsm.consumers.info("WORK", "workers");
  assert.equal(info.num_pending, 6);
  assert.equal(info.delivered.stream_seq, 4);
  assert.equal(info.ack_floor.stream_seq, 4);
  assert.equal(info.num_ack_pending, 0);
  const names = await jsm.consumers.list("WORK").next();
  assert.equal(names.length, 1);
  assert.equal(await jsm.consumers.delete("WORK", "workers"), true);
  await assert.rejects(jsm.consumers.info("WORK", "workers"), /consumer not found/);
});

test("fetch returns early with fewer, and expires empty", async () => {
  await jsm.streams.add({ name: "FEW", subjects: ["few"] });
  await js.publish("few", sc.encode("only"));
  await jsm.consumers.add("FEW", { durable_name: "d", ack_policy: AckPolicy.Explicit });
  const c = await js.consumers.get("FEW", "d");
  const t0 = Date.now();
  const b1 = await c.fetch({ max_messages: 10, expires: 1000 });
  let n = 0;
  for await (const m of b1) { n++; m.ack(); }
  assert.equal(n, 1);
  const b2 = await c.fetch({ max_messages: 10, expires: 1000 });
  let empty = 0;
  for await (const _m of b2) empty++;
  assert.equal(empty, 0);
  assert.ok(Date.now() - t0 < 5000);
});

test("two fetchers share one durable: disjoint messages", async () => {
  await jsm.streams.add({ name: "SHARE", subjects: ["share"] });
  for (let i = 0; i < 20; i++) await js.publish("share", sc.encode(String(i)));
  await jsm.consumers.add("SHARE", { durable_name: "pool", ack_policy: AckPolicy.Explicit });
  const nc2 = await connect({ servers: srv.url });
  const c1 = await js.consumers.get("SHARE", "pool");
  const c2 = await nc2.jetstream().consumers.get("SHARE", "pool");
  const seen = [];
  const take = async (c) => {
    const b = await c.fetch({ max_messages: 10, expires: 1500 });
    for await (const m of b) { seen.push(sc.decode(m.data)); m.ack(); }
  };
  await Promise.all([take(c1), take(c2)]);
  assert.equal(seen.length, 20);
  assert.equal(new Set(seen).size, 20);
  await nc2.close();
});

test("redelivery after ack_wait, nak, and max_deliver", async () => {
  await jsm.streams.add({ name: "RED", subjects: ["red"] });
  await js.publish("red", sc.encode("again"));
  await jsm.consumers.add("RED", {
    durable_name: "r", ack_policy: AckPolicy.Explicit, ack_wait: 300_000_000, max_deliver: 3,
  });
  const c = await js.consumers.get("RED", "r");
  const deliveries = [];
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline && deliveries.length < 3) {
    const b = await c.fetch({ max_messages: 1, expires: 1000 });
    for await (const m of b) {
      deliveries.push(m.info.redeliveryCount);
      if (deliveries.length === 2) m.nak();  // the second time: ask for it again now
    }
  }
  assert.deepEqual(deliveries, [1, 2, 3]);
  const info = await jsm.consumers.info("RED", "r");
  assert.equal(info.num_redelivered, 1);
  // max_deliver reached: no fourth delivery.
  const b = await c.fetch({ max_messages: 1, expires: 1000 });
  let more = 0;
  for await (const _m of b) more++;
  assert.equal(more, 0);
});

test("push consumer with deliver subject", async () => {
  await jsm.streams.add({ name: "PUSH", subjects: ["push.*"] });
  for (let i = 0; i < 5; i++) await js.publish("push.a", sc.encode(String(i)));
  const opts = consumerOpts();
  opts.durable("pusher");
  opts.deliverTo(createInbox());
  opts.ackExplicit();
  opts.deliverAll();
  const sub = await js.subscribe("push.a", opts);
  const got = [];
  for await (const m of sub) {
    got.push(sc.decode(m.data));
    m.ack();
    if (got.length === 5) break;
  }
  assert.deepEqual(got, ["0", "1", "2", "3", "4"]);
});

test("ordered consumer reads the stream in order", async () => {
  await jsm.streams.add({ name: "ORD", subjects: ["ord"] });
  for (let i = 0; i < 50; i++) await js.publish("ord", sc.encode(String(i)));
  const c = await js.consumers.get("ORD");  // ordered
  const msgs = await c.consume({ max_messages: 100 });
  const got = [];
  for await (const m of msgs) {
    got.push(Number(sc.decode(m.data)));
    if (got.length === 50) break;
  }
  assert.deepEqual(got, [...Array(50).keys()]);
});

test("key-value: watch, keys, history", async () => {
  const kv = await js.views.kv("settings", { history: 5 });
  await kv.put("a", sc.encode("1"));
  await kv.put("b", sc.encode("2"));
  await kv.put("a", sc.encode("3"));
  const keys = [];
  for await (const k of await kv.keys()) keys.push(k);
  assert.deepEqual(keys.sort(), ["a", "b"]);
  const hist = [];
  for await (const e of await kv.history({ key: "a" })) hist.push(sc.decode(e.value));
  assert.deepEqual(hist, ["1", "3"]);
  const w = await kv.watch({ key: "a" });
  const seen = [];
  const done = (async () => {
    for await (const e of w) {
      seen.push(sc.decode(e.value));
      if (seen.length === 2) break;
    }
  })();
  await kv.put("a", sc.encode("4"));
  await done;
  assert.deepEqual(seen, ["3", "4"]);
  // purge is a rollup (Nats-Rollup: sub): the key's history collapses to one marker.
  await kv.purge("a");
  const after = [];
  for await (const e of await kv.history({ key: "a" })) after.push(e.operation);
  assert.deepEqual(after, ["PURGE"]);
  const left = [];
  for await (const k of await kv.keys()) left.push(k);
  assert.deepEqual(left, ["b"]);
});

test("object store: put many MB, get byte-identical, info, list, delete, link", async () => {
  const os = await js.views.os("files");
  const size = 5 * 1024 * 1024 + 123;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
  const rs = new ReadableStream({
    pull(controller) { controller.enqueue(data); controller.close(); },
  });
  const info = await os.put({ name: "blob.bin" }, rs);
  assert.equal(info.size, size);
  assert.ok(info.chunks > 1);
  const got = await os.get("blob.bin");
  const chunks = [];
  const reader = got.data.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  assert.ok(!(await got.error));
  const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
  assert.equal(all.length, size);
  assert.ok(all.equals(Buffer.from(data)));
  const stat = await os.info("blob.bin");
  assert.equal(stat.size, size);
  await os.link("alias", stat);
  const names = (await os.list()).map((e) => e.name).sort();
  assert.deepEqual(names, ["alias", "blob.bin"]);
  await os.delete("blob.bin");
  assert.equal((await os.info("blob.bin"))?.deleted ?? true, true);
});

test("consumer update changes what 2.9 lets change", async () => {
  await jsm.streams.add({ name: "UPD", subjects: ["upd"] });
  await jsm.consumers.add("UPD", { durable_name: "u", ack_policy: AckPolicy.Explicit, max_ack_pending: 10 });
  const ci = await jsm.consumers.update("UPD", "u", { max_ack_pending: 50, description: "now fifty" });
  assert.equal(ci.config.max_ack_pending, 50);
  assert.equal(ci.config.description, "now fifty");
  assert.equal((await jsm.consumers.info("UPD", "u")).config.max_ack_pending, 50);
});

test("object store watch: history, then live puts and deletes", async () => {
  const os = await js.views.os("watched");
  await os.putBlob({ name: "a.txt" }, new TextEncoder().encode("alpha"));
  await os.putBlob({ name: "b.txt" }, new TextEncoder().encode("beta"));
  const w = await os.watch({ includeHistory: true });
  const seen = [];
  const done = (async () => {
    for await (const e of w) {
      seen.push(e === null ? "<init>" : `${e.name}${e.deleted ? ":deleted" : ""}`);
      if (seen.length === 5) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await os.putBlob({ name: "c.txt" }, new TextEncoder().encode("gamma"));
  await os.delete("a.txt");
  await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error("watch stalled: " + seen)), 5000))]);
  w.stop();
  assert.deepEqual(seen, ["a.txt", "b.txt", "<init>", "c.txt", "a.txt:deleted"]);
  const blob = await os.getBlob("b.txt");
  assert.equal(new TextDecoder().decode(blob), "beta");
  const st = await os.status();
  assert.equal(st.bucket, "watched");
});
