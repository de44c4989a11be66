// Consumer groups survive kill -9 (groups-api.md §8): the group and its config come back on
// the same store dir, a rejoin resumes after the ack floor — nothing acknowledged comes back,
// nothing unacknowledged (or published while the members were away) is lost. Then several
// rounds with kill -9 at a random moment while members ack (seeded: GROUPS_SEED=<n>).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  sc, sleep, uniq, waitFor, within, prng, startGroups, addStream, jpub, createGroup, getGroup,
  fetchEvents, ackOk, WsClient,
} from "./groups_env.mjs";

const CONFIG = ["name", "stream", "pattern", "max_inflight", "max_redeliveries", "redeliver_delay_ms",
  "dead_letter_subject", "ack_mode", "redeliver_backoff_ms", "created_at", "updated_at"];
const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o[k]]));

test("kill -9 and restart: the group, its config, acked and unacked events", async () => {
  const env = await startGroups();
  try {
    const stream = uniq("S");
    const p = uniq("t");
    await addStream(env, stream, [`${p}.>`]);
    const dl = uniq("DLQ");
    const dp = uniq("d");
    await addStream(env, dl, [`${dp}.>`]);
    const name = uniq("g");
    await createGroup(env, { name, pattern: `${p}.>`, max_inflight: 100, max_redeliveries: 5, redeliver_delay_ms: 800, dead_letter_subject: `${dp}.dead` });
    const patched = await env.api("PATCH", `/v1/groups/${name}`, { body: { max_inflight: 50 } });
    assert.equal(patched.status, 200, patched.text);
    const gone = uniq("gone");
    await createGroup(env, { name: gone, pattern: `${p}.>` });
    assert.equal((await env.api("DELETE", `/v1/groups/${gone}`)).status, 200);
    const before = await getGroup(env, name);

    const N = 20;
    const seqOf = new Map();  // i → seq
    for (let i = 0; i < N; i++) seqOf.set(i, await jpub(env, `${p}.e`, { i }));
    const got = [];
    for (const e of await fetchEvents(env, name, { member_id: "m1", max: 50 })) got.push(e);
    assert.equal(got.length, N);
    const acked = new Set();
    for (const e of got) {
      if (e.data.i % 2 === 0) {
        await ackOk(env, name, e.event_id);
        acked.add(e.data.i);
      }
    }
    const mid = await getGroup(env, name);
    assert.equal(mid.num_ack_pending, N / 2);

    await env.restart();  // kill -9, same store dir

    const afterG = await getGroup(env, name);
    assert.deepEqual(pick(afterG, CONFIG), pick(before, CONFIG));
    assert.equal(afterG.max_inflight, 50);
    assert.equal((await env.api("GET", `/v1/groups/${gone}`)).status, 404, "a deleted group stays deleted");
    const list = await env.api("GET", "/v1/groups");
    assert.deepEqual(list.body.groups.map((g) => g.name), [name]);
    assert.equal(list.body.total, 1);
    assert.equal(afterG.num_ack_pending + afterG.num_pending, N / 2,
      `after kill -9 the group should still have the ${N / 2} unacked events (num_ack_pending + num_pending): ${JSON.stringify(afterG)}`);
    const ci = await env.jsm.consumers.info(stream, name);
    assert.equal(ci.config.ack_wait, 800_000_000);
    assert.equal(ci.config.max_deliver, 6);

    // Published after the restart, before anyone rejoined.
    const M = 5;
    for (let i = N; i < N + M; i++) seqOf.set(i, await jpub(env, `${p}.e`, { i }));

    // Rejoin (one HTTP member, one WS member): the unacked and the new ones, each acked.
    const seen = [];
    const ws = await WsClient.open(env.wsUrl);
    try {
      ws.onMessage = (m) => {
        if (m.type !== "event") return;
        seen.push({ i: m.data.i, attempt: m.deliveryAttempt, via: "ws" });
        ws.send({ type: "ack", eventId: m.eventId, ackType: "ack" });
      };
      await ws.join(name, `${p}.>`, "m-ws");
      const expected = new Set([...seqOf.keys()].filter((i) => !acked.has(i)));
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline && !([...expected].every((i) => seen.some((s) => s.i === i)))) {
        for (const e of await fetchEvents(env, name, { member_id: "m1", max: 50, wait_ms: 200 })) {
          seen.push({ i: e.data.i, attempt: e.delivery_attempt, via: "http" });
          await ackOk(env, name, e.event_id);
        }
      }
      // Longer than redeliver_delay_ms: nothing else comes.
      for (const e of await fetchEvents(env, name, { member_id: "m1", max: 50, wait_ms: 1200 })) {
        seen.push({ i: e.data.i, attempt: e.delivery_attempt, via: "http" });
      }
      const back = seen.filter((s) => acked.has(s.i));
      assert.deepEqual(back, [], "acknowledged before the crash, delivered again");
      const missing = [...expected].filter((i) => !seen.some((s) => s.i === i));
      assert.deepEqual(missing, [], "unacknowledged or published after the restart, never delivered");
      const counts = new Map();
      for (const s of seen) counts.set(s.i, (counts.get(s.i) ?? 0) + 1);
      assert.deepEqual([...counts].filter(([, c]) => c > 1), [], "delivered twice after the restart although acked at once");
      const g = await waitFor(async () => { const g = await getGroup(env, name); return g.num_ack_pending === 0 && g; }, { what: "all acked" });
      assert.equal(g.num_pending, 0);
      assert.equal(g.ack_floor_sequence, seqOf.get(N + M - 1));
    } finally {
      await ws.close();
    }
  } finally {
    await env.close();
  }
});

test("rounds of kill -9 at a random moment while members ack: every ack and every publish accounted for", async (t) => {
  const seed = process.env.GROUPS_SEED !== undefined ? Number(process.env.GROUPS_SEED) : (Date.now() % 1_000_000_007);
  t.diagnostic(`GROUPS_SEED=${seed}`);
  console.log(`# groups durability: GROUPS_SEED=${seed}`);
  const rng = prng(seed);
  const ROUNDS = 3;
  const env = await startGroups();
  try {
    const stream = uniq("S");
    const p = uniq("t");
    await addStream(env, stream, [`${p}.>`]);
    const name = uniq("g");
    await createGroup(env, { name, pattern: `${p}.>`, max_inflight: 8, max_redeliveries: 1000, redeliver_delay_ms: 700 });

    let nextId = 0;
    const published = new Set();   // ids whose publish was acknowledged by JetStream
    const maybePub = new Set();    // ids whose publish was in flight at a kill
    const acked = new Map();       // id → time the ack was confirmed (HTTP 200 / ack_result ok)
    const maybeAcked = new Set();  // ids whose ack was in flight at a kill
    const deliveries = [];         // {id, at, attempt, via, round}
    const violations = [];

    const record = (id, attempt, via, round) => {
      const at = Date.now();
      deliveries.push({ id, at, attempt, via, round });
      if (!published.has(id) && !maybePub.has(id)) violations.push(`delivered ${id}, never published`);
      if (acked.has(id) && !maybeAcked.has(id)) violations.push(`delivered ${id} (${via}, attempt ${attempt}, round ${round}) after its ack was confirmed`);
    };

    // One publisher, one HTTP member and one WS member until stop(); skipAck: probability of
    // leaving an event unacked (it comes back after redeliver_delay_ms).
    function runMembers(round, r, skipAck, { publish = 0 } = {}) {
      let stopped = false;
      const httpOpen = new Set();
      const tasks = [];
      // publisher
      tasks.push((async () => {
        const js = env.js;
        for (let k = 0; k < publish && !stopped; k++) {
          const id = nextId++;
          maybePub.add(id);
          try {
            await js.publish(`${p}.r${round}`, sc.encode(JSON.stringify({ id })), { timeout: 2000 });
            published.add(id);
            maybePub.delete(id);
          } catch {
            break;
          }
          if (r.next() < 0.3) await sleep(r.int(1, 15));
        }
      })());
      // HTTP member
      tasks.push((async () => {
        const api = env.api.bind(env);
        while (!stopped) {
          let res;
          try {
            res = await api("POST", `/v1/groups/${name}/fetch`, { body: { member_id: "m-http", max: r.int(1, 5), wait_ms: 100 }, timeout: 3000 });
          } catch { break; }
          if (res.status !== 200) { if (!stopped) violations.push(`fetch → ${res.status} ${res.text}`); break; }
          for (const e of res.body.events) {
            const id = e.data.id;
            record(id, e.delivery_attempt, "http", round);
            if (r.next() < skipAck) continue;
            httpOpen.add(id);
            maybeAcked.add(id);
            let a;
            try {
              a = await api("POST", `/v1/groups/${name}/ack`, { body: { event_id: e.event_id }, timeout: 3000 });
            } catch { stopped = true; break; }  // in flight at the kill: stays "maybe"
            httpOpen.delete(id);
            if (a.status === 200) { if (!acked.has(id)) acked.set(id, Date.now()); maybeAcked.delete(id); }
            else if (a.status === 404) maybeAcked.delete(id);  // visibility passed: it will come back
            else { violations.push(`ack ${e.event_id} → ${a.status} ${a.text}`); maybeAcked.delete(id); }
          }
        }
      })());
      // WS member
      let ws;
      const wsPending = new Map();  // eventId → id
      tasks.push((async () => {
        try {
          ws = await WsClient.open(env.wsUrl);
        } catch { return; }
        ws.onMessage = (m) => {
          if (m.type === "event") {
            const id = m.data.id;
            record(id, m.deliveryAttempt, "ws", round);
            if (stopped || r.next() < skipAck) return;
            maybeAcked.add(id);
            wsPending.set(m.eventId, id);
            ws.send({ type: "ack", eventId: m.eventId, ackType: "ack" });
          } else if (m.type === "ack_result") {
            const id = wsPending.get(m.eventId);
            if (id === undefined) return;
            wsPending.delete(m.eventId);
            if (m.status === "ok") { if (!acked.has(id)) acked.set(id, Date.now()); maybeAcked.delete(id); }
            else if (m.code === "not_found") maybeAcked.delete(id);
            else { violations.push(`ws ack ${m.eventId} → ${JSON.stringify(m)}`); maybeAcked.delete(id); }
          }
        };
        try {
          await ws.join(name, `${p}.>`, "m-ws");
        } catch { /* killed meanwhile */ }
      })());
      return {
        ws: () => ws,
        async stop() {
          stopped = true;
          await within(Promise.all(tasks), 10000, "members stopping");
          if (ws) ws.terminate();
          // Acks without an answer stay "maybe" (they may or may not have reached the store).
        },
      };
    }

    const summary = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Published while no member is there (after the previous restart).
      for (let k = 0; k < 5; k++) {
        const id = nextId++;
        await env.js.publish(`${p}.pre${round}`, sc.encode(JSON.stringify({ id })));
        published.add(id);
      }
      const r = prng(seed + 1000 * (round + 1));
      const killAfter = rng.int(150, 900);
      const members = runMembers(round, r, 0.15, { publish: rng.int(20, 60) });
      await sleep(killAfter);
      await env.killNow();
      await members.stop();
      summary.push(`round ${round}: kill after ${killAfter} ms, published ${published.size}, acked ${acked.size}, maybe-acked ${maybeAcked.size}`);
      await env.boot();  // same store dir, new ports
      const g = await getGroup(env, name);
      assert.equal(g.max_inflight, 8);
      assert.equal(g.redeliver_delay_ms, 700);
    }

    // Final drain: members ack everything until every published event is acknowledged.
    const r = prng(seed + 999_999);
    const members = runMembers(ROUNDS, r, 0);
    let drained = true;
    try {
      // An ack in flight at a kill is indeterminate: it may have reached the store (then the
      // event is done and never comes back) or not (then it comes back and is acked now).
      // The group's counts at the end show that nothing was left behind either way.
      await waitFor(() => [...published].every((id) => acked.has(id) || maybeAcked.has(id)), { timeout: 20000, interval: 50, what: "every published event acknowledged" })
        .catch(() => { drained = false; });
      if (drained) await sleep(1200);  // longer than redeliver_delay_ms: nothing acked may show up again
    } finally {
      await members.stop();
    }
    for (const s of summary) t.diagnostic(s);
    t.diagnostic(`deliveries ${deliveries.length}, published ${published.size} (+${maybePub.size} uncertain), acked ${acked.size}, uncertain acks ${maybeAcked.size}`);

    assert.deepEqual(violations.slice(0, 20), [], `seed ${seed}: ${violations.length} violation(s)`);
    const undelivered = [...published].filter((id) => !deliveries.some((d) => d.id === id));
    assert.deepEqual(undelivered, [], `seed ${seed}: published (JetStream ack), never delivered (lost)`);
    const neverAcked = [...published].filter((id) => !acked.has(id) && !maybeAcked.has(id));
    assert.deepEqual(neverAcked.map((id) => ({ id, deliveries: deliveries.filter((d) => d.id === id).map((d) => `${d.via}#${d.attempt}@r${d.round}`) })),
      [], `seed ${seed}: published, never acknowledged`);
    assert.ok(drained);
    for (const id of acked.keys()) assert.ok(published.has(id) || maybePub.has(id), `acked ${id}, not published`);
    const g = await waitFor(async () => { const g = await getGroup(env, name); return g.num_ack_pending === 0 && g.num_pending === 0 && g; },
      { timeout: 5000, what: "the group drained" });
    assert.equal(g.num_ack_pending, 0);
  } finally {
    await env.close();
  }
});
