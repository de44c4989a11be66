// JetStream streams with the nats.js client (jsm.streams.*, js.publish, KV put/get).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, StringCodec, headers, RetentionPolicy, StorageType, DiscardPolicy } from "nats";
import { startJetStream } from "./server.mjs";

const sc = StringCodec();
let env, srv, nc, jsm, js;

before(async () => {
  env = await startJetStream();
  ({ srv, nc, jsm, js } = env);
});
after(async () => { await env.close(); });

test("streams.add, info, names, list, update, delete", async () => {
  const si = await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
  assert.equal(si.config.name, "ORDERS");
  assert.equal(si.config.retention, RetentionPolicy.Limits);
  assert.equal(si.config.storage, StorageType.File);
  assert.equal(si.config.duplicate_window, 120_000_000_000);
  const ack = await js.publish("orders.new", sc.encode("o1"));
  assert.equal(ack.stream, "ORDERS");
  assert.equal(ack.seq, 1);
  assert.equal(ack.duplicate, false);
  const info = await jsm.streams.info("ORDERS");
  assert.equal(info.state.messages, 1);
  assert.equal(info.state.last_seq, 1);
  const names = await jsm.streams.names().next();
  assert.deepEqual(names, ["ORDERS"]);
  const list = await jsm.streams.list().next();
  assert.equal(list.length, 1);
  assert.equal(list[0].state.messages, 1);
  const upd = await jsm.streams.update("ORDERS", { subjects: ["orders.>", "returns.>"], max_msgs: 10 });
  assert.deepEqual(upd.config.subjects, ["orders.>", "returns.>"]);
  assert.equal(upd.config.max_msgs, 10);
  await assert.rejects(jsm.streams.update("ORDERS", { storage: StorageType.Memory }), /storage type/);
  assert.equal(await jsm.streams.delete("ORDERS"), true);
  await assert.rejects(jsm.streams.info("ORDERS"), /stream not found/);
});

test("publish: dedup, expectations, headers, get and delete messages", async () => {
  await jsm.streams.add({ name: "EV", subjects: ["ev.*"], storage: StorageType.Memory });
  const a = await js.publish("ev.a", sc.encode("1"), { msgID: "m1" });
  const b = await js.publish("ev.a", sc.encode("1"), { msgID: "m1" });
  assert.equal(b.seq, a.seq);
  assert.equal(b.duplicate, true);
  await assert.rejects(js.publish("ev.a", sc.encode("x"), { expect: { lastSequence: 9 } }),
    /wrong last sequence: 1/);
  await assert.rejects(js.publish("ev.a", sc.encode("x"), { expect: { streamName: "NOPE" } }),
    /expected stream does not match/);
  const h = headers();
  h.set("X-Trace", "t1");
  await js.publish("ev.b", sc.encode("with headers"), { headers: h });
  const m = await jsm.streams.getMessage("EV", { last_by_subj: "ev.b" });
  assert.equal(sc.decode(m.data), "with headers");
  assert.equal(m.header.get("X-Trace"), "t1");
  assert.equal(m.seq, 2);
  assert.equal(await jsm.streams.deleteMessage("EV", 1), true);
  await assert.rejects(jsm.streams.getMessage("EV", { seq: 1 }), /no message found/);
  const p = await jsm.streams.purge("EV");
  assert.equal(p.purged, 1);
  await jsm.streams.delete("EV");
});

test("limits: discard new reports the error to the publisher", async () => {
  await jsm.streams.add({ name: "LIM", subjects: ["lim"], max_msgs: 2, discard: DiscardPolicy.New });
  await js.publish("lim");
  await js.publish("lim");
  // nats.js reports the pub ack's error code (503, err_code 10077), as with nats-server.
  await assert.rejects(js.publish("lim"), (e) => {
    assert.match(`${e.code} ${e.message}`, /503/);
    return true;
  });
  assert.equal((await jsm.streams.info("LIM")).state.messages, 2);
  await jsm.streams.delete("LIM");
});

test("key-value: put, get, update with revision, delete", async () => {
  const kv = await js.views.kv("profiles", { history: 5 });
  assert.equal(await kv.put("alice", sc.encode("v1")), 1);
  const e = await kv.get("alice");
  assert.equal(sc.decode(e.value), "v1");
  assert.equal(e.revision, 1);
  assert.equal(await kv.update("alice", sc.encode("v2"), 1), 2);
  await assert.rejects(kv.update("alice", sc.encode("v3"), 1));
  await assert.rejects(kv.create("alice", sc.encode("dup")));
  await kv.delete("alice");
  const gone = await kv.get("alice");
  assert.ok(gone === null || gone.operation === "DEL");
  const st = await kv.status();
  assert.equal(st.bucket, "profiles");
  assert.equal(st.history, 5);
});
