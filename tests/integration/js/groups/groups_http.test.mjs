// Consumer groups over HTTP (groups-api.md v1 + docs/groups.md): the REST resource, its
// validation and errors, HTTP members (fetch/ack), redelivery, dead letters and redrive,
// backoff, ack_mode auto, the JetStream consumer underneath, monitoring, and auth.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  RFC3339, sc, sleep, uniq, http, rawHttp, assertError, assertStatus, waitFor, within,
  startGroups, addStream, jpub, createGroup, getGroup, fetchEvents, fetchN, ack, ackOk,
  streamMessages, headersObject, WsClient,
} from "./groups_env.mjs";

let env;
before(async () => { env = await startGroups(); });
after(async () => { await env?.close(); });

// A fresh stream with subjects `<p>.>` (or subjects(p)) and, unless group === null, a
// group on it (spec: object or function of p; pattern `<p>.>` unless given).
async function setup({ group = {}, subjects } = {}) {
  const stream = uniq("S");
  const p = uniq("t");
  await addStream(env, stream, subjects ? subjects(p) : [`${p}.>`]);
  const name = uniq("g");
  if (group === null) return { stream, p, name };
  const spec = typeof group === "function" ? group(p) : group;
  const g = await createGroup(env, { name, pattern: `${p}.>`, ...spec });
  return { stream, p, name, g };
}

// A dead-letter stream; answers {stream, subject} (the subject is literal, captured by it).
async function dlq() {
  const stream = uniq("DLQ");
  const d = uniq("d");
  await addStream(env, stream, [`${d}.>`]);
  return { stream, subject: `${d}.dead`, prefix: d };
}

const post = (path, body, o = {}) => env.api("POST", path, { body, ...o });
const postRaw = (path, raw, o = {}) => env.api("POST", path, { raw, ...o });
const b64 = (s) => Buffer.from(s).toString("base64");
const CONFIG_FIELDS = ["name", "stream", "pattern", "max_inflight", "max_redeliveries", "redeliver_delay_ms",
  "dead_letter_subject", "ack_mode", "redeliver_backoff_ms", "created_at"];
const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o[k]]));

async function waitDlq(stream, n, drive) {
  return waitFor(async () => {
    if (drive) await drive();
    const info = await env.jsm.streams.info(stream);
    return info.state.messages >= n ? info : false;
  }, { timeout: 8000, interval: 50, what: `${n} dead letter(s) in ${stream}` });
}

// ---------------------------------------------------------------------------------------
// The resource

test("create: 201 with every field, the defaults, the stream inferred from the pattern", async () => {
  const { stream, p, name } = await setup({ group: null });
  const res = await post("/v1/groups", { name, pattern: `${p}.>` });
  assertStatus(res, 201, "create");
  const g = res.body;
  assert.equal(g.name, name);
  assert.equal(g.stream, stream);
  assert.equal(g.pattern, `${p}.>`);
  assert.equal(g.max_inflight, 100);
  assert.equal(g.max_redeliveries, 3);
  assert.equal(g.redeliver_delay_ms, 30000);
  assert.equal(g.dead_letter_subject, "");
  assert.equal(g.ack_mode, "manual");
  assert.deepEqual(g.redeliver_backoff_ms, []);
  assert.match(g.created_at, RFC3339);
  assert.match(g.updated_at, RFC3339);
  assert.equal(g.member_count, 0);
  assert.deepEqual(g.members, []);
  assert.equal(g.num_pending, 0);
  assert.equal(g.num_ack_pending, 0);
  assert.equal(g.num_redelivered, 0);
  assert.equal(g.num_dead_lettered, 0);
  assert.equal(g.ack_floor_sequence, 0);
  assert.equal(g.delivered_sequence, 0);

  // The group is a durable pull consumer (docs: mapping table).
  const ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.config.durable_name, name);
  assert.equal(ci.config.filter_subject, `${p}.>`);
  assert.equal(ci.config.deliver_policy, "new");
  assert.equal(ci.config.ack_policy, "explicit");
  assert.equal(ci.config.deliver_subject, undefined);
  assert.equal(ci.config.ack_wait, 30_000_000_000);
  assert.equal(ci.config.max_deliver, 4);
  assert.equal(ci.config.max_ack_pending, -1);
  assert.equal(ci.config.max_waiting, 4096);
  assert.ok(ci.config.description?.startsWith("osprey-group "), `description: ${ci.config.description}`);
  const rec = JSON.parse(ci.config.description.slice("osprey-group ".length));
  assert.equal(typeof rec, "object");

  // Every field given, the stream named, a narrower pattern.
  const d = await dlq();
  const name2 = uniq("g");
  const g2 = await createGroup(env, {
    name: name2, stream, pattern: `${p}.eu.*`, max_inflight: 7, max_redeliveries: 0,
    redeliver_delay_ms: 100, dead_letter_subject: d.subject,
  });
  assert.deepEqual(pick(g2, ["name", "stream", "pattern", "max_inflight", "max_redeliveries", "redeliver_delay_ms", "dead_letter_subject"]),
    { name: name2, stream, pattern: `${p}.eu.*`, max_inflight: 7, max_redeliveries: 0, redeliver_delay_ms: 100, dead_letter_subject: d.subject });
  const ci2 = await env.jsm.consumers.info(stream, name2);
  assert.equal(ci2.config.filter_subject, `${p}.eu.*`);
  assert.equal(ci2.config.ack_wait, 100_000_000);
  assert.equal(ci2.config.max_deliver, 1);
});

test("create: the stream is the one whose subjects contain the pattern", async () => {
  const stream = uniq("S");
  const p = uniq("t");
  await addStream(env, stream, [`${p}.a.>`, `${p}.b.*`]);
  const g1 = await createGroup(env, { name: uniq("g"), pattern: `${p}.a.b.c` });
  assert.equal(g1.stream, stream);
  const g2 = await createGroup(env, { name: uniq("g"), pattern: `${p}.b.q` });
  assert.equal(g2.stream, stream);
  const g3 = await createGroup(env, { name: uniq("g"), pattern: `${p}.b.*` });
  assert.equal(g3.stream, stream);
  const g4 = await createGroup(env, { name: uniq("g"), pattern: `${p}.a.*.>` });
  assert.equal(g4.stream, stream);
  // Wider than every subject of the stream, or in no stream at all: 400.
  for (const pattern of [`${p}.>`, `${p}.*`, `${p}.*.q`, `${p}.b.>`, `${p}.b.q.r`, `${uniq("none")}.>`]) {
    assertError(await post("/v1/groups", { name: uniq("g"), pattern }), 400, "invalid_argument", `pattern ${pattern}`);
  }
});

test("get: 200 with the group as created", async () => {
  const { name, g } = await setup({ group: { max_inflight: 3, redeliver_delay_ms: 700 } });
  const got = await getGroup(env, name);
  assert.deepEqual(pick(got, CONFIG_FIELDS), pick(g, CONFIG_FIELDS));
  assert.equal(got.max_inflight, 3);
  assert.equal(got.redeliver_delay_ms, 700);
  assert.equal(got.member_count, 0);
  assert.deepEqual(got.members, []);
});

test("list: sorted by name, with total", async () => {
  const base = uniq("l");
  const stream = uniq("S");
  const p = uniq("t");
  await addStream(env, stream, [`${p}.>`]);
  for (const n of [`${base}-b`, `${base}-c`, `${base}-a`]) await createGroup(env, { name: n, pattern: `${p}.>` });
  const res = await env.api("GET", "/v1/groups");
  assertStatus(res, 200, "list");
  assert.ok(Array.isArray(res.body.groups));
  assert.equal(res.body.total, res.body.groups.length);
  const names = res.body.groups.map((g) => g.name);
  assert.deepEqual(names, [...names].sort());
  assert.deepEqual(names.filter((n) => n.startsWith(base)), [`${base}-a`, `${base}-b`, `${base}-c`]);
  const a = res.body.groups.find((g) => g.name === `${base}-a`);
  assert.equal(a.stream, stream);
  assert.equal(a.pattern, `${p}.>`);
  assert.equal(a.max_inflight, 100);
});

test("patch: mutable fields change (also in the consumer); name/stream/pattern only unchanged", async () => {
  const { stream, p, name, g } = await setup();
  const d = await dlq();
  const res = await env.api("PATCH", `/v1/groups/${name}`, {
    body: { max_inflight: 5, max_redeliveries: 7, redeliver_delay_ms: 1500, dead_letter_subject: d.subject },
  });
  assertStatus(res, 200, "patch");
  const pg = res.body;
  assert.equal(pg.max_inflight, 5);
  assert.equal(pg.max_redeliveries, 7);
  assert.equal(pg.redeliver_delay_ms, 1500);
  assert.equal(pg.dead_letter_subject, d.subject);
  assert.equal(pg.name, name);
  assert.equal(pg.stream, stream);
  assert.equal(pg.pattern, `${p}.>`);
  assert.equal(pg.created_at, g.created_at);
  assert.match(pg.updated_at, RFC3339);
  assert.ok(Date.parse(pg.updated_at) >= Date.parse(g.created_at), `${pg.updated_at} >= ${g.created_at}`);
  const ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.config.ack_wait, 1_500_000_000);
  assert.equal(ci.config.max_deliver, 8);
  assert.equal(ci.config.filter_subject, `${p}.>`);
  const got = await getGroup(env, name);
  assert.deepEqual(pick(got, ["max_inflight", "max_redeliveries", "redeliver_delay_ms", "dead_letter_subject"]),
    { max_inflight: 5, max_redeliveries: 7, redeliver_delay_ms: 1500, dead_letter_subject: d.subject });

  // Immutable fields: only when unchanged.
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { body: { pattern: `${p}.x.>` } }), 400, "invalid_argument", "patch pattern");
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { body: { stream: d.stream } }), 400, "invalid_argument", "patch stream");
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { body: { name: uniq("g") } }), 400, "invalid_argument", "patch name");
  const same = await env.api("PATCH", `/v1/groups/${name}`, { body: { name, stream, pattern: `${p}.>`, max_inflight: 6 } });
  assertStatus(same, 200, "patch with unchanged name/stream/pattern");
  assert.equal(same.body.max_inflight, 6);
  // Rejected patches change nothing.
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { body: { max_inflight: 0 } }), 400, "invalid_argument", "patch max_inflight 0");
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { body: { max_inflight: 9, colour: "red" } }), 400, "invalid_argument", "patch unknown field");
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { body: { dead_letter_subject: `${uniq("nowhere")}.x` } }), 400, "invalid_argument", "patch uncaptured dead_letter_subject");
  assertError(await env.api("PATCH", `/v1/groups/${name}`, { raw: "{\"max_inflight\": 9" }), 400, "invalid_argument", "patch malformed");
  const after1 = await getGroup(env, name);
  assert.equal(after1.max_inflight, 6);
  assert.equal(after1.dead_letter_subject, d.subject);
  assert.equal(after1.pattern, `${p}.>`);
  // Clearing the dead-letter subject.
  const cleared = await env.api("PATCH", `/v1/groups/${name}`, { body: { dead_letter_subject: "" } });
  assertStatus(cleared, 200, "clear dead_letter_subject");
  assert.equal(cleared.body.dead_letter_subject, "");
});

test("delete: 200 {}, the group and its durable are gone", async () => {
  const { stream, name } = await setup();
  const res = await env.api("DELETE", `/v1/groups/${name}`);
  assertStatus(res, 200, "delete");
  assert.deepEqual(res.body, {});
  assertError(await env.api("GET", `/v1/groups/${name}`), 404, "not_found", "get deleted");
  await assert.rejects(env.jsm.consumers.info(stream, name), /consumer not found/);
  const list = await env.api("GET", "/v1/groups");
  assert.ok(!list.body.groups.some((g) => g.name === name));
  assertError(await env.api("DELETE", `/v1/groups/${name}`), 404, "not_found", "delete again");
  // The name is free again.
  await createGroup(env, { name, stream, pattern: (await env.jsm.streams.info(stream)).config.subjects[0] });
});

test("deleting the consumer with a NATS tool deletes the group", async () => {
  const { stream, name } = await setup();
  assert.equal(await env.jsm.consumers.delete(stream, name), true);
  await waitFor(async () => (await env.api("GET", `/v1/groups/${name}`)).status === 404, { what: "GET 404 after consumer delete" });
  assertError(await env.api("GET", `/v1/groups/${name}`), 404, "not_found");
});

// ---------------------------------------------------------------------------------------
// Errors

test("400: malformed JSON, non-object bodies, unknown fields, missing fields", async () => {
  const { stream, p } = await setup({ group: null });
  const bodies = ["{", "{\"name\": \"x\",}", "nope", "{\"name\": \"x\" \"pattern\": \"y\"}", "\u0000"];
  for (const raw of bodies) assertError(await postRaw("/v1/groups", raw), 400, "invalid_argument", `body ${JSON.stringify(raw)}`);
  for (const raw of ["[]", "[1,2]", "\"str\"", "42", "null", "true"]) {
    assertError(await postRaw("/v1/groups", raw), 400, "invalid_argument", `non-object ${raw}`);
  }
  assertError(await postRaw("/v1/groups", ""), 400, "invalid_argument", "empty body");
  assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, colour: "red" }), 400, "invalid_argument", "unknown field");
  assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, maxInflight: 5 }), 400, "invalid_argument", "camelCase field");
  assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, member_count: 1 }), 400, "invalid_argument", "read-only field");
  assertError(await post("/v1/groups", { pattern: `${p}.>` }), 400, "invalid_argument", "no name");
  assertError(await post("/v1/groups", { name: uniq("g"), stream }), 400, "invalid_argument", "no pattern");
  // None of these made a group.
  const list = await env.api("GET", "/v1/groups");
  assert.ok(!list.body.groups.some((g) => g.stream === stream));

  // The same for the other bodies.
  const g = await createGroup(env, { name: uniq("g"), pattern: `${p}.>` });
  for (const path of [`/v1/groups/${g.name}/fetch`, `/v1/groups/${g.name}/ack`]) {
    assertError(await postRaw(path, "{"), 400, "invalid_argument", `${path} malformed`);
    assertError(await postRaw(path, "[]"), 400, "invalid_argument", `${path} array`);
    assertError(await post(path, { member_id: "m", event_id: "1", bogus: 1 }), 400, "invalid_argument", `${path} unknown field`);
  }
  assertError(await env.api("PATCH", `/v1/groups/${g.name}`, { raw: "[]" }), 400, "invalid_argument", "patch array");
});

test("400: bad names and patterns", async () => {
  const { stream, p } = await setup({ group: null });
  const badNames = ["", "has space", "a.b", "a*", "a>", "x".repeat(65), "ünï", "a/b", "tab\t", 5, null];
  for (const name of badNames) {
    assertError(await post("/v1/groups", { name, pattern: `${p}.>` }), 400, "invalid_argument", `name ${JSON.stringify(name)}`);
  }
  const ok64 = "N_-9" + "x".repeat(60);
  const g = await createGroup(env, { name: ok64, pattern: `${p}.>` });
  assert.equal(g.name, ok64);
  const badPatterns = ["", `${p}..a`, `${p}.a b`, `${p}.a\tb`, `${p}.>.a`, `${p}.a*`, `${p}.*a`, `${p}.a>`,
    `.${p}.a`, `${p}.a.`, `${uniq("other")}.>`, 7];
  for (const pattern of badPatterns) {
    assertError(await post("/v1/groups", { name: uniq("g"), stream, pattern }), 400, "invalid_argument", `pattern ${JSON.stringify(pattern)}`);
  }
  // Dead-letter subject: literal and captured by some stream.
  const d = await dlq();
  for (const dead_letter_subject of [`${d.prefix}.*`, `${d.prefix}.>`, `${d.prefix}.a b`, `${uniq("nowhere")}.dead`, `${d.prefix}..x`, 3]) {
    assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, dead_letter_subject }), 400, "invalid_argument",
      `dead_letter_subject ${JSON.stringify(dead_letter_subject)}`);
  }
  // ack_mode and redeliver_backoff_ms values.
  assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, ack_mode: "sometimes" }), 400, "invalid_argument", "ack_mode");
  for (const redeliver_backoff_ms of ["100", [1.5], ["100"], 100]) {
    assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, redeliver_backoff_ms }), 400, "invalid_argument",
      `redeliver_backoff_ms ${JSON.stringify(redeliver_backoff_ms)}`);
  }
});

test("400: numbers out of range, strings instead of integers, fractions; the bounds are accepted", async () => {
  const { stream, p } = await setup({ group: null });
  const bad = [
    ["max_inflight", 0], ["max_inflight", 10001], ["max_inflight", -1],
    ["max_redeliveries", -1], ["max_redeliveries", 1001],
    ["redeliver_delay_ms", 99], ["redeliver_delay_ms", 3600001], ["redeliver_delay_ms", 0],
    ["max_inflight", "5"], ["max_redeliveries", "1"], ["redeliver_delay_ms", "1000"],
    ["max_inflight", 1.5], ["max_redeliveries", 2.5], ["redeliver_delay_ms", 1000.5],
    ["max_inflight", true], ["max_inflight", [5]], ["max_inflight", { n: 5 }],
  ];
  for (const [field, value] of bad) {
    assertError(await post("/v1/groups", { name: uniq("g"), pattern: `${p}.>`, [field]: value }), 400, "invalid_argument",
      `${field}: ${JSON.stringify(value)}`);
  }
  const low = await createGroup(env, { name: uniq("g"), pattern: `${p}.>`, max_inflight: 1, max_redeliveries: 0, redeliver_delay_ms: 100 });
  assert.deepEqual(pick(low, ["max_inflight", "max_redeliveries", "redeliver_delay_ms"]), { max_inflight: 1, max_redeliveries: 0, redeliver_delay_ms: 100 });
  const high = await createGroup(env, { name: uniq("g"), pattern: `${p}.>`, max_inflight: 10000, max_redeliveries: 1000, redeliver_delay_ms: 3600000 });
  assert.deepEqual(pick(high, ["max_inflight", "max_redeliveries", "redeliver_delay_ms"]), { max_inflight: 10000, max_redeliveries: 1000, redeliver_delay_ms: 3600000 });
  const ci = await env.jsm.consumers.info(stream, high.name);
  assert.equal(ci.config.max_deliver, 1001);
  assert.equal(ci.config.ack_wait, 3_600_000_000_000);

  // fetch / ack / redrive numbers.
  const g = low.name;
  const fetchBad = [{ member_id: "m", max: 0 }, { member_id: "m", max: 1001 }, { member_id: "m", max: "2" }, { member_id: "m", max: 1.5 },
    { member_id: "m", wait_ms: -1 }, { member_id: "m", wait_ms: 60001 }, { member_id: "m", wait_ms: "10" }, { member_id: "m", wait_ms: 0.5 },
    {}, { max: 1 }, { member_id: "" }, { member_id: "a b" }, { member_id: "a.b" }, { member_id: "x".repeat(65) }, { member_id: 5 }];
  for (const body of fetchBad) assertError(await post(`/v1/groups/${g}/fetch`, body), 400, "invalid_argument", `fetch ${JSON.stringify(body)}`);
  const ackBad = [{ event_id: "1", type: "bogus" }, { event_id: "1", type: "nak", delay_ms: -1 }, { event_id: "1", type: "nak", delay_ms: 3600001 },
    { event_id: "1", type: "nak", delay_ms: "5" }, { event_id: "1", type: "nak", delay_ms: 1.5 }, {}, { type: "ack" }];
  for (const body of ackBad) assertError(await post(`/v1/groups/${g}/ack`, body), 400, "invalid_argument", `ack ${JSON.stringify(body)}`);
  // Bounds of fetch accepted.
  assert.deepEqual(await fetchEvents(env, g, { member_id: "m", max: 1000, wait_ms: 0 }), []);
  assert.deepEqual(await fetchEvents(env, g, { member_id: "x".repeat(64), max: 1 }), []);
});

test("404: unknown group, unknown stream, unknown route, event not pending", async () => {
  const { p, name } = await setup();
  const ghost = uniq("ghost");
  assertError(await env.api("GET", `/v1/groups/${ghost}`), 404, "not_found", "get");
  assertError(await env.api("PATCH", `/v1/groups/${ghost}`, { body: { max_inflight: 2 } }), 404, "not_found", "patch");
  assertError(await env.api("DELETE", `/v1/groups/${ghost}`), 404, "not_found", "delete");
  assertError(await post(`/v1/groups/${ghost}/fetch`, { member_id: "m" }), 404, "not_found", "fetch");
  assertError(await post(`/v1/groups/${ghost}/ack`, { event_id: "1" }), 404, "not_found", "ack");
  assertError(await post(`/v1/groups/${ghost}/redrive`, { max: 1 }), 404, "not_found", "redrive");
  assertError(await post("/v1/groups", { name: uniq("g"), stream: uniq("NOSTREAM"), pattern: `${p}.>` }), 404, "not_found", "unknown stream");
  // Unknown routes and methods a path does not take.
  for (const [method, path] of [["GET", "/v1/nothing"], ["GET", `/v1/groups/${name}/nothing`], ["POST", `/v1/groups/${name}/nothing`],
    ["GET", `/v1/groups/${name}/fetch/more`], ["PUT", "/v1/groups"], ["DELETE", "/v1/groups"], ["PATCH", "/v1/groups"],
    ["POST", `/v1/groups/${name}`], ["PUT", `/v1/groups/${name}`], ["GET", `/v1/groups/${name}/fetch`], ["GET", `/v1/groups/${name}/ack`],
    ["DELETE", `/v1/groups/${name}/ack`]]) {
    assertError(await env.api(method, path), 404, "not_found", `${method} ${path}`);
  }
  // Event not pending: never delivered, no such sequence.
  const seq = await jpub(env, `${p}.a`, { n: 1 });
  for (const type of ["ack", "nak", "term"]) {
    assertError(await ack(env, name, String(seq), type), 404, "not_found", `${type} of an undelivered event`);
    assertError(await ack(env, name, "999999", type), 404, "not_found", `${type} of no event`);
  }
  // Still deliverable afterwards.
  const evs = await fetchEvents(env, name, { member_id: "m", max: 5 });
  assert.deepEqual(evs.map((e) => e.sequence), [seq]);
});

test("409: duplicate group, existing consumer name, on this or another stream", async () => {
  const { stream, p, name } = await setup({ group: { max_inflight: 3 } });
  assertError(await post("/v1/groups", { name, pattern: `${p}.>`, max_inflight: 50 }), 409, "already_exists", "duplicate group");
  assert.equal((await getGroup(env, name)).max_inflight, 3);
  const taken = uniq("taken");
  await env.jsm.consumers.add(stream, { durable_name: taken, ack_policy: "explicit", filter_subject: `${p}.z` });
  assertError(await post("/v1/groups", { name: taken, pattern: `${p}.>` }), 409, "already_exists", "consumer of that name");
  const ci = await env.jsm.consumers.info(stream, taken);
  assert.equal(ci.config.filter_subject, `${p}.z`);
  // Group names are unique per account over all streams (docs): a group name used on
  // another stream.
  const other = await setup({ group: null });
  assertError(await post("/v1/groups", { name, pattern: `${other.p}.>` }), 409, "already_exists", "group name on another stream");
});

test("413: a body over 1 MiB; exactly 1 MiB is read", async () => {
  const { p } = await setup({ group: null });
  const MiB = 1024 * 1024;
  const big = Buffer.from(JSON.stringify({ name: uniq("g"), pattern: `${p}.>`, dead_letter_subject: "a".repeat(MiB) }));
  assert.ok(big.length > MiB);
  const r1 = await rawHttp(env.httpPort, "POST", "/v1/groups", big);
  assertError(r1, 413, "resource_exhausted", "POST /v1/groups > 1 MiB");
  const r2 = await rawHttp(env.httpPort, "POST", `/v1/groups/${uniq("g")}/fetch`, Buffer.concat([Buffer.from("{\"member_id\":\"m\"}"), Buffer.alloc(MiB, 0x20)]));
  assertError(r2, 413, "resource_exhausted", "fetch body > 1 MiB");
  // 1 MiB exactly (JSON padded with spaces) is not over the limit.
  const name = uniq("g");
  const head = Buffer.from(JSON.stringify({ name, pattern: `${p}.>` }));
  const exact = Buffer.concat([head, Buffer.alloc(MiB - head.length, 0x20)]);
  assert.equal(exact.length, MiB);
  const r3 = await rawHttp(env.httpPort, "POST", "/v1/groups", exact);
  assert.equal(r3.status, 201, `exactly 1 MiB → ${r3.status} ${r3.text.slice(0, 300)}`);
  assert.equal((await getGroup(env, name)).name, name);
});

test("500 internal on a server without JetStream", async () => {
  const plain = await startGroups({ js: false });
  try {
    assertError(await plain.api("GET", "/v1/groups"), 500, "internal", "list without JetStream");
    assertError(await plain.api("POST", "/v1/groups", { body: { name: "x", pattern: "a.>" } }), 500, "internal", "create without JetStream");
  } finally {
    await plain.close();
  }
});

// ---------------------------------------------------------------------------------------
// HTTP members

test("DeliverNew: events stored before the group was created are never delivered", async () => {
  const { p, name } = await setup({ group: null });
  for (let i = 0; i < 3; i++) await jpub(env, `${p}.old`, { old: i });
  await createGroup(env, { name, pattern: `${p}.>` });
  const s1 = await jpub(env, `${p}.new`, { fresh: 1 });
  const s2 = await jpub(env, `${p}.new`, { fresh: 2 });
  const g = await waitFor(async () => { const g = await getGroup(env, name); return g.num_pending === 2 && g; }, { what: "num_pending 2" });
  assert.equal(g.num_ack_pending, 0);
  const evs = await fetchEvents(env, name, { member_id: "m1", max: 100, wait_ms: 0 });
  assert.deepEqual(evs.map((e) => e.sequence), [s1, s2]);
  assert.deepEqual(evs.map((e) => e.data), [{ fresh: 1 }, { fresh: 2 }]);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "m1", max: 100, wait_ms: 300 }), []);
});

test("fetch: immediate, at most max (default 1), [] when none", async () => {
  const { p, name } = await setup();
  const seqs = [];
  for (let i = 0; i < 4; i++) seqs.push(await jpub(env, `${p}.i`, { i }));
  const one = await fetchEvents(env, name, { member_id: "m1" });
  assert.deepEqual(one.map((e) => e.sequence), [seqs[0]]);
  const two = await fetchEvents(env, name, { member_id: "m1", max: 2 });
  assert.deepEqual(two.map((e) => e.sequence), [seqs[1], seqs[2]]);
  const rest = await fetchEvents(env, name, { member_id: "m2", max: 1000, wait_ms: 0 });
  assert.deepEqual(rest.map((e) => e.sequence), [seqs[3]]);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "m2", max: 10, wait_ms: 0 }), []);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "m3", max: 10 }), []);
});

test("fetch long-poll: waits while nothing is there, returns as soon as an event arrives", async () => {
  const { p, name } = await setup();
  let answered = false;
  const pending = fetchEvents(env, name, { member_id: "lp", max: 10, wait_ms: 30000 }).finally(() => { answered = true; });
  await sleep(400);
  assert.equal(answered, false, "the long poll answered before any event was there");
  const seq = await jpub(env, `${p}.lp`, { hello: "poll" });
  const evs = await within(pending, 10000, "long poll after an event arrived");
  assert.equal(evs.length, 1);
  assert.equal(evs[0].sequence, seq);
  assert.deepEqual(evs[0].data, { hello: "poll" });
  // A long poll with nothing arriving ends with [] after wait_ms.
  assert.deepEqual(await within(fetchEvents(env, name, { member_id: "lp", max: 10, wait_ms: 300 }), 10000, "empty long poll"), []);
});

test("max_inflight: a member never holds more; a full member gets [] at once", async () => {
  const { p, name } = await setup({ group: { max_inflight: 2 } });
  const seqs = [];
  for (let i = 0; i < 5; i++) seqs.push(await jpub(env, `${p}.mi`, { i }));
  const a1 = await fetchEvents(env, name, { member_id: "ma", max: 10 });
  assert.deepEqual(a1.map((e) => e.sequence), seqs.slice(0, 2));
  const full = await within(fetchEvents(env, name, { member_id: "ma", max: 10, wait_ms: 20000 }), 5000, "fetch of a full member");
  assert.deepEqual(full, []);
  const b1 = await fetchEvents(env, name, { member_id: "mb", max: 10 });
  assert.deepEqual(b1.map((e) => e.sequence), seqs.slice(2, 4));
  await ackOk(env, name, a1[0].event_id);
  const a2 = await fetchEvents(env, name, { member_id: "ma", max: 10 });
  assert.deepEqual(a2.map((e) => e.sequence), [seqs[4]]);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "ma", max: 10 }), []);
  const g = await getGroup(env, name);
  const byId = Object.fromEntries(g.members.map((m) => [m.id, m]));
  assert.equal(byId.ma?.inflight, 2);
  assert.equal(byId.mb?.inflight, 2);
  assert.equal(g.num_ack_pending, 4);
});

test("event JSON: parsed data, string + data_base64, headers, sequence, event_id, attempt, timestamp", async () => {
  const { stream, p, name } = await setup();
  const s1 = await jpub(env, `${p}.json`, { a: 1, b: [true, null, "x"], c: { d: 1.5 } }, { "X-Trace": "t-1", "X-Other": "o" });
  const s2 = await jpub(env, `${p}.text`, "hello world");
  const s3 = await jpub(env, `${p}.bin`, new Uint8Array([0xff, 0x00, 0x01]));
  const s4 = await jpub(env, `${p}.num`, "42");
  const s5 = await jpub(env, `${p}.str`, "\"quoted\"");
  const evs = await fetchEvents(env, name, { member_id: "shape", max: 10 });
  assert.equal(evs.length, 5);
  const [e1, e2, e3, e4, e5] = evs;
  for (const [e, seq, subject] of [[e1, s1, "json"], [e2, s2, "text"], [e3, s3, "bin"], [e4, s4, "num"], [e5, s5, "str"]]) {
    assert.equal(e.event_id, String(seq));
    assert.equal(e.sequence, seq);
    assert.equal(e.subject, `${p}.${subject}`);
    assert.equal(e.delivery_attempt, 1);
    assert.match(e.timestamp, RFC3339);
    const sm = await env.jsm.streams.getMessage(stream, { seq });
    assert.ok(Math.abs(Date.parse(e.timestamp) - sm.time.getTime()) < 1000, `timestamp ${e.timestamp} vs stored ${sm.time.toISOString()}`);
  }
  assert.deepEqual(e1.data, { a: 1, b: [true, null, "x"], c: { d: 1.5 } });
  assert.equal(e1.data_base64, undefined);
  assert.deepEqual(e1.headers, { "X-Trace": "t-1", "X-Other": "o" });
  assert.equal(e2.data, "hello world");
  assert.equal(e2.data_base64, b64("hello world"));
  assert.ok(e2.headers === undefined || Object.keys(e2.headers).length === 0, `no headers: ${JSON.stringify(e2.headers)}`);
  assert.equal(typeof e3.data, "string");
  assert.equal(e3.data_base64, Buffer.from([0xff, 0x00, 0x01]).toString("base64"));
  assert.equal(e4.data, 42);
  assert.equal(e4.data_base64, undefined);
  assert.equal(e5.data, "quoted");
  assert.equal(e5.data_base64, undefined);
});

test("ack: type defaults to ack, answers {}, moves the ack floor; a second ack is 404", async () => {
  const { stream, p, name } = await setup();
  const s1 = await jpub(env, `${p}.a`, { n: 1 });
  const s2 = await jpub(env, `${p}.a`, { n: 2 });
  const evs = await fetchEvents(env, name, { member_id: "acker", max: 2 });
  assert.equal(evs.length, 2);
  assert.equal((await getGroup(env, name)).num_ack_pending, 2);
  await ackOk(env, name, evs[0].event_id);             // no type: ack
  await ackOk(env, name, evs[1].event_id, "ack");
  const g = await getGroup(env, name);
  assert.equal(g.num_ack_pending, 0);
  assert.equal(g.num_pending, 0);
  assert.equal(g.ack_floor_sequence, s2);
  assert.equal(g.delivered_sequence, s2);
  const ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.ack_floor.stream_seq, s2);
  assert.equal(ci.num_ack_pending, 0);
  assertError(await ack(env, name, String(s1)), 404, "not_found", "second ack");
  assertError(await ack(env, name, String(s2), "nak"), 404, "not_found", "nak after ack");
  assertError(await ack(env, name, String(s2), "term"), 404, "not_found", "term after ack");
  // Acked events never come back.
  assert.deepEqual(await fetchEvents(env, name, { member_id: "acker", max: 10, wait_ms: 300 }), []);
});

test("nak with delay_ms: redelivered after the delay, same event_id, delivery_attempt 2; nak 0 at once", async () => {
  const { p, name } = await setup({ group: { redeliver_delay_ms: 30000 } });
  const seq = await jpub(env, `${p}.n`, { nak: true });
  const [e1] = await fetchEvents(env, name, { member_id: "nk", max: 1 });
  assert.equal(e1.delivery_attempt, 1);
  const tNak = Date.now();
  await ackOk(env, name, e1.event_id, "nak", { delay_ms: 1500 });
  assert.deepEqual(await fetchEvents(env, name, { member_id: "nk", max: 1 }), [], "delivered before delay_ms");
  const again = await fetchN(env, name, "nk", 1, { timeout: 8000, wait: 2000 });
  assert.equal(again.length, 1, "redelivered after nak");
  const tBack = Date.now();
  assert.equal(again[0].event_id, e1.event_id);
  assert.equal(again[0].sequence, seq);
  assert.equal(again[0].delivery_attempt, 2);
  assert.deepEqual(again[0].data, { nak: true });
  assert.ok(tBack - tNak >= 1300, `redelivered ${tBack - tNak} ms after a nak of 1500 ms`);
  // nak without delay: deliverable again now (another member may take it).
  await ackOk(env, name, e1.event_id, "nak");
  const third = await fetchN(env, name, "nk2", 1, { timeout: 5000, wait: 2000 });
  assert.equal(third.length, 1);
  assert.equal(third[0].event_id, e1.event_id);
  assert.equal(third[0].delivery_attempt, 3);
  await ackOk(env, name, e1.event_id, "ack");
  assert.equal((await getGroup(env, name)).num_ack_pending, 0);
});

test("term: the event is never delivered again; without dead_letter_subject it is dropped", async () => {
  const { p, name } = await setup({ group: { redeliver_delay_ms: 300 } });
  await jpub(env, `${p}.t`, { term: 1 });
  const [e] = await fetchEvents(env, name, { member_id: "tm", max: 1 });
  await ackOk(env, name, e.event_id, "term");
  assert.deepEqual(await fetchEvents(env, name, { member_id: "tm", max: 10, wait_ms: 1200 }), []);
  assertError(await ack(env, name, e.event_id), 404, "not_found", "ack after term");
  const g = await getGroup(env, name);
  assert.equal(g.num_ack_pending, 0);
  assert.equal(g.num_dead_lettered, 0);
});

test("redelivery after redeliver_delay_ms: same event_id, delivery_attempt 2, to another member; the late ack is 404", async () => {
  const { p, name } = await setup({ group: { redeliver_delay_ms: 1000 } });
  const seq = await jpub(env, `${p}.r`, { again: 1 }, { "X-Trace": "r-1" });
  const [e1] = await fetchEvents(env, name, { member_id: "r1", max: 1 });
  const t1 = Date.now();
  assert.equal(e1.delivery_attempt, 1);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "r2", max: 1 }), [], "held by r1");
  const got = await fetchN(env, name, "r2", 1, { timeout: 8000, wait: 3000 });
  const t2 = Date.now();
  assert.equal(got.length, 1, "redelivered");
  const [e2] = got;
  assert.equal(e2.event_id, e1.event_id);
  assert.equal(e2.sequence, seq);
  assert.equal(e2.delivery_attempt, 2);
  assert.deepEqual(e2.headers, { "X-Trace": "r-1" });
  assert.ok(t2 - t1 >= 800, `redelivered ${t2 - t1} ms after the first delivery (delay 1000)`);
  const g = await getGroup(env, name);
  const byId = Object.fromEntries(g.members.map((m) => [m.id, m]));
  assert.equal(byId.r2?.inflight, 1);
  assert.equal(byId.r1?.inflight ?? 0, 0);
  assert.ok(g.num_redelivered >= 1);
  await ackOk(env, name, e2.event_id);
  // An ack after the visibility timeout passed is not_found (docs).
  await jpub(env, `${p}.r`, { late: 1 });
  const [e3] = await fetchEvents(env, name, { member_id: "r1", max: 1 });
  await sleep(1400);
  assertError(await ack(env, name, e3.event_id), 404, "not_found", "ack after redeliver_delay_ms");
});

test("dead letters after max_redeliveries (by nak): DLQ message with Osprey-Dlq-* headers", async () => {
  const d = await dlq();
  const { stream, p, name } = await setup({ group: { max_redeliveries: 1, redeliver_delay_ms: 30000, dead_letter_subject: d.subject } });
  const seq = await jpub(env, `${p}.a.1`, { order: 1 }, { "X-Trace": "t-9" });
  const [e1] = await fetchEvents(env, name, { member_id: "dl", max: 1 });
  assert.equal(e1.delivery_attempt, 1);
  await ackOk(env, name, e1.event_id, "nak");
  const [e2] = await fetchN(env, name, "dl", 1, { timeout: 5000, wait: 1000 });
  assert.equal(e2?.delivery_attempt, 2);
  await ackOk(env, name, e2.event_id, "nak");
  const extra = [];
  await waitDlq(d.stream, 1, async () => { extra.push(...await fetchEvents(env, name, { member_id: "dl", max: 10, wait_ms: 100 }, { timeout: 3000 })); });
  assert.deepEqual(extra, [], "delivered more than 1 + max_redeliveries times");
  const msgs = await streamMessages(env, d.stream);
  assert.equal(msgs.length, 1);
  const [m] = msgs;
  assert.equal(m.subject, d.subject);
  assert.deepEqual(JSON.parse(sc.decode(m.data)), { order: 1 });
  const h = headersObject(m);
  assert.equal(h["X-Trace"], "t-9");
  assert.equal(h["Osprey-Dlq-Reason"], "max_redeliveries");
  assert.equal(h["Osprey-Dlq-Group"], name);
  assert.equal(h["Osprey-Dlq-Stream"], stream);
  assert.equal(h["Osprey-Dlq-Sequence"], String(seq));
  assert.equal(h["Osprey-Dlq-Subject"], `${p}.a.1`);
  assert.equal(h["Osprey-Dlq-Deliveries"], "2");
  assert.equal(h["Nats-Msg-Id"], `${name}-${stream}-${seq}`);
  const g = await waitFor(async () => { const g = await getGroup(env, name); return g.num_dead_lettered === 1 && g; }, { what: "num_dead_lettered 1" });
  assert.equal(g.num_ack_pending, 0);
  assertError(await ack(env, name, e2.event_id), 404, "not_found", "ack of a dead letter");
  assert.deepEqual(await fetchEvents(env, name, { member_id: "dl", max: 10, wait_ms: 200 }), []);
});

test("dead letters after max_redeliveries (by timeout)", async () => {
  const d = await dlq();
  const { stream, p, name } = await setup({ group: { max_redeliveries: 1, redeliver_delay_ms: 300, dead_letter_subject: d.subject } });
  const seq = await jpub(env, `${p}.b`, "plain text");
  const deliveries = [];
  await waitDlq(d.stream, 1, async () => { deliveries.push(...await fetchEvents(env, name, { member_id: "to", max: 10, wait_ms: 150 }, { timeout: 3000 })); });
  assert.deepEqual(deliveries.map((e) => [e.event_id, e.delivery_attempt]), [[String(seq), 1], [String(seq), 2]]);
  const [m] = await streamMessages(env, d.stream);
  assert.equal(sc.decode(m.data), "plain text");
  const h = headersObject(m);
  assert.equal(h["Osprey-Dlq-Reason"], "max_redeliveries");
  assert.equal(h["Osprey-Dlq-Group"], name);
  assert.equal(h["Osprey-Dlq-Stream"], stream);
  assert.equal(h["Osprey-Dlq-Sequence"], String(seq));
  assert.equal(h["Osprey-Dlq-Subject"], `${p}.b`);
  assert.equal(h["Osprey-Dlq-Deliveries"], "2");
  await waitFor(async () => (await getGroup(env, name)).num_dead_lettered === 1, { what: "num_dead_lettered 1" });
  assert.deepEqual(await fetchEvents(env, name, { member_id: "to", max: 10, wait_ms: 500 }), []);
});

test("term dead-letters at once (reason term)", async () => {
  const d = await dlq();
  const { stream, p, name } = await setup({ group: { max_redeliveries: 5, redeliver_delay_ms: 30000, dead_letter_subject: d.subject } });
  const seq = await jpub(env, `${p}.c`, { bad: "input" }, { "X-Trace": "tt" });
  const [e] = await fetchEvents(env, name, { member_id: "tr", max: 1 });
  await ackOk(env, name, e.event_id, "term");
  await waitDlq(d.stream, 1);
  const [m] = await streamMessages(env, d.stream);
  assert.deepEqual(JSON.parse(sc.decode(m.data)), { bad: "input" });
  const h = headersObject(m);
  assert.equal(h["X-Trace"], "tt");
  assert.equal(h["Osprey-Dlq-Reason"], "term");
  assert.equal(h["Osprey-Dlq-Group"], name);
  assert.equal(h["Osprey-Dlq-Stream"], stream);
  assert.equal(h["Osprey-Dlq-Sequence"], String(seq));
  assert.equal(h["Osprey-Dlq-Subject"], `${p}.c`);
  assert.equal(h["Osprey-Dlq-Deliveries"], "1");
  assert.equal(h["Nats-Msg-Id"], `${name}-${stream}-${seq}`);
  const g = await waitFor(async () => { const g = await getGroup(env, name); return g.num_dead_lettered === 1 && g; }, { what: "num_dead_lettered 1" });
  assert.equal(g.num_ack_pending, 0);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "tr", max: 10, wait_ms: 200 }), []);
});

// Two groups whose dead letters go to the same subject; ga terms two events, gb one.
async function sharedDeadLetters() {
  const d = await dlq();
  const { stream, p } = await setup({ group: null });
  const ga = uniq("ga");
  const gb = uniq("gb");
  await createGroup(env, { name: ga, pattern: `${p}.a.>`, dead_letter_subject: d.subject, redeliver_delay_ms: 30000 });
  await createGroup(env, { name: gb, pattern: `${p}.b.>`, dead_letter_subject: d.subject, redeliver_delay_ms: 30000 });
  const sa1 = await jpub(env, `${p}.a.x`, { a: 1 }, { "X-Trace": "a1" });
  const sa2 = await jpub(env, `${p}.a.y`, { a: 2 }, { "X-Trace": "a2" });
  const sb1 = await jpub(env, `${p}.b.x`, { b: 1 });
  for (const e of await fetchEvents(env, ga, { member_id: "m", max: 10 })) await ackOk(env, ga, e.event_id, "term");
  for (const e of await fetchEvents(env, gb, { member_id: "m", max: 10 })) await ackOk(env, gb, e.event_id, "term");
  await waitDlq(d.stream, 3);
  return { d, stream, p, ga, gb, sa1, sa2, sb1 };
}

// docs/groups.md: the count is what is on the group's dead-letter subject now, as an SQS
// dead-letter queue's depth; groups that share one subject share the count.
test("num_dead_lettered counts the messages on the group's dead-letter subject", async () => {
  const { ga, gb } = await sharedDeadLetters();
  await waitFor(async () => (await getGroup(env, ga)).num_dead_lettered === 3, { what: "ga num_dead_lettered 3" });
  await waitFor(async () => (await getGroup(env, gb)).num_dead_lettered === 3, { what: "gb num_dead_lettered 3" });
  const r = await post(`/v1/groups/${ga}/redrive`, { max: 1 });
  assertStatus(r, 200, "redrive");
  assert.equal((await getGroup(env, ga)).num_dead_lettered, 2);
  assert.equal((await getGroup(env, gb)).num_dead_lettered, 2);
});

test("redrive: only this group's letters, back to their subjects without Osprey-Dlq-*", async () => {
  const { d, stream, p, ga, gb, sa2 } = await sharedDeadLetters();
  const r1 = await post(`/v1/groups/${ga}/redrive`, { max: 1 });
  assertStatus(r1, 200, "redrive max 1");
  assert.deepEqual(r1.body, { redriven: 1 });
  assert.equal((await env.jsm.streams.info(d.stream)).state.messages, 2);
  const groupsLeft = (await streamMessages(env, d.stream)).map((m) => headersObject(m)["Osprey-Dlq-Group"]).sort();
  assert.deepEqual(groupsLeft, [ga, gb].sort());
  const [back] = await fetchN(env, ga, "m2", 1, { timeout: 5000 });
  assert.ok(back, "the redriven event is delivered again");
  assert.ok(back.sequence > sa2, "published again: a new sequence");
  assert.equal(back.delivery_attempt, 1);
  assert.ok([`${p}.a.x`, `${p}.a.y`].includes(back.subject), back.subject);
  const orig = back.subject === `${p}.a.x` ? { data: { a: 1 }, trace: "a1" } : { data: { a: 2 }, trace: "a2" };
  assert.deepEqual(back.data, orig.data);
  assert.equal(back.headers?.["X-Trace"], orig.trace);
  assert.deepEqual(Object.keys(back.headers).filter((k) => k.toLowerCase().startsWith("osprey-dlq-")), []);
  const stored = await env.jsm.streams.getMessage(stream, { seq: back.sequence });
  assert.deepEqual([...stored.header.keys()].filter((k) => k.toLowerCase().startsWith("osprey-dlq-")), []);
  await ackOk(env, ga, back.event_id);

  const r2 = await post(`/v1/groups/${ga}/redrive`, {});
  assertStatus(r2, 200, "redrive default");
  assert.deepEqual(r2.body, { redriven: 1 });
  const [back2] = await fetchN(env, ga, "m2", 1, { timeout: 5000 });
  assert.ok(back2, "the second redriven event is delivered");
  assert.ok([`${p}.a.x`, `${p}.a.y`].includes(back2.subject), back2.subject);
  assert.notEqual(back2.subject, back.subject);
  await ackOk(env, ga, back2.event_id);
  const r3 = await post(`/v1/groups/${ga}/redrive`, { max: 100 });
  assertStatus(r3, 200, "redrive with nothing left");
  assert.deepEqual(r3.body, { redriven: 0 });
  // gb's letter stayed, and nothing reached gb.
  const left = await streamMessages(env, d.stream);
  assert.equal(left.length, 1);
  assert.equal(headersObject(left[0])["Osprey-Dlq-Group"], gb);
  assert.deepEqual(await fetchEvents(env, gb, { member_id: "m", max: 10, wait_ms: 200 }), []);

  // Errors.
  for (const body of [{ max: 0 }, { max: 10001 }, { max: "1" }, { max: 1.5 }, { max: 1, x: 1 }]) {
    assertError(await post(`/v1/groups/${gb}/redrive`, body), 400, "invalid_argument", `redrive ${JSON.stringify(body)}`);
  }
  const plain = await createGroup(env, { name: uniq("g"), pattern: `${p}.c.>` });
  assertError(await post(`/v1/groups/${plain.name}/redrive`, { max: 1 }), 400, "invalid_argument", "redrive without dead_letter_subject");
  assert.equal(plain.num_dead_lettered, 0);
});

test("redeliver_backoff_ms maps to the consumer's backoff (cut to max_deliver - 1)", async () => {
  const { stream, p } = await setup({ group: null });
  const g1 = await createGroup(env, { name: uniq("g"), pattern: `${p}.>`, max_redeliveries: 3, redeliver_delay_ms: 300, redeliver_backoff_ms: [300, 600] });
  assert.deepEqual(g1.redeliver_backoff_ms, [300, 600]);
  const c1 = await env.jsm.consumers.info(stream, g1.name);
  assert.deepEqual(c1.config.backoff, [300_000_000, 600_000_000]);
  assert.equal(c1.config.max_deliver, 4);
  const g2 = await createGroup(env, { name: uniq("g"), pattern: `${p}.>`, max_redeliveries: 2, redeliver_backoff_ms: [100, 200, 300, 400, 500] });
  const c2 = await env.jsm.consumers.info(stream, g2.name);
  assert.deepEqual(c2.config.backoff, [100_000_000, 200_000_000]);
  assert.equal(c2.config.max_deliver, 3);
  assert.deepEqual((await getGroup(env, g1.name)).redeliver_backoff_ms, [300, 600]);
  // The backoff paces redeliveries: attempt 2 comes back.
  await jpub(env, `${p}.bo`, { bo: 1 });
  const first = await fetchEvents(env, g1.name, { member_id: "bo", max: 1 });
  assert.equal(first.length, 1);
  const again = await fetchN(env, g1.name, "bo", 1, { timeout: 5000, wait: 1000 });
  assert.equal(again[0]?.event_id, first[0].event_id);
  assert.equal(again[0]?.delivery_attempt, 2);
  await ackOk(env, g1.name, again[0].event_id);
});

test("ack_mode auto: fetched events count as acknowledged", async () => {
  const { stream, p, name, g } = await setup({ group: { ack_mode: "auto", redeliver_delay_ms: 300 } });
  assert.equal(g.ack_mode, "auto");
  const seqs = [];
  for (let i = 0; i < 3; i++) seqs.push(await jpub(env, `${p}.auto`, { i }));
  const evs = await fetchEvents(env, name, { member_id: "au", max: 10 });
  assert.deepEqual(evs.map((e) => e.sequence), seqs);
  await waitFor(async () => {
    const g = await getGroup(env, name);
    return g.num_ack_pending === 0 && g.ack_floor_sequence === seqs[2];
  }, { what: "auto acks reach the consumer" });
  assert.deepEqual(await fetchEvents(env, name, { member_id: "au", max: 10, wait_ms: 1000 }), [], "redelivered although auto-acked");
  const ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.ack_floor.stream_seq, seqs[2]);
});

test("a NATS pull subscriber on the group's durable shares the consumer with HTTP members", async () => {
  const { stream, p, name } = await setup({ group: { redeliver_delay_ms: 30000 } });
  const seqs = [];
  for (let i = 0; i < 6; i++) seqs.push(await jpub(env, `${p}.n`, { i }));
  const viaHttp = await fetchEvents(env, name, { member_id: "h", max: 3 });
  assert.deepEqual(viaHttp.map((e) => e.sequence), seqs.slice(0, 3));
  await ackOk(env, name, viaHttp[0].event_id);
  await ackOk(env, name, viaHttp[1].event_id);
  let ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.num_ack_pending, 1);
  assert.equal(ci.ack_floor.stream_seq, seqs[1]);
  assert.equal(ci.delivered.stream_seq, seqs[2]);
  assert.equal(ci.num_pending, 3);

  const c = await env.js.consumers.get(stream, name);
  const viaNats = [];
  const batch = await c.fetch({ max_messages: 3, expires: 3000 });
  for await (const m of batch) viaNats.push(m);
  assert.deepEqual(viaNats.map((m) => m.seq), seqs.slice(3, 6));
  // The gateway did not hand these out: an HTTP ack of one is not_found (docs).
  assertError(await ack(env, name, String(seqs[3])), 404, "not_found", "HTTP ack of a NATS-delivered event");
  let g = await getGroup(env, name);
  assert.equal(g.num_ack_pending, 4);
  assert.equal(g.delivered_sequence, seqs[5]);
  assert.equal(g.num_pending, 0);
  for (const m of viaNats) await m.ackAck();
  g = await getGroup(env, name);
  assert.equal(g.num_ack_pending, 1);
  assert.equal(g.ack_floor_sequence, seqs[1]);
  await ackOk(env, name, viaHttp[2].event_id);
  g = await getGroup(env, name);
  assert.equal(g.num_ack_pending, 0);
  assert.equal(g.ack_floor_sequence, seqs[5]);
  ci = await env.jsm.consumers.info(stream, name);
  assert.equal(ci.ack_floor.stream_seq, seqs[5]);
});

test("NATS publishers feed the pattern (core and JetStream publishes), other subjects do not", async () => {
  const { p, name } = await setup({ group: (q) => ({ pattern: `${q}.x.*` }) });
  env.nc.publish(`${p}.x.1`, sc.encode(JSON.stringify({ core: 1 })));
  env.nc.publish(`${p}.y.1`, sc.encode("not for the group"));
  env.nc.publish(`${p}.x.2.deep`, sc.encode("not for the group either"));
  env.nc.publish(`${p}.x.2`, sc.encode("core two"));
  await env.nc.flush();
  const s3 = await jpub(env, `${p}.x.3`, { js: 3 });
  const evs = await fetchN(env, name, "np", 3, { timeout: 5000 });
  assert.deepEqual(evs.map((e) => e.subject), [`${p}.x.1`, `${p}.x.2`, `${p}.x.3`]);
  assert.deepEqual(evs[0].data, { core: 1 });
  assert.equal(evs[1].data, "core two");
  assert.equal(evs[2].sequence, s3);
  assert.deepEqual(await fetchEvents(env, name, { member_id: "np", max: 10, wait_ms: 300 }), []);
});

test("monitoring: GET shows members with transport and inflight", async () => {
  const { p, name } = await setup({ group: { redeliver_delay_ms: 30000 } });
  for (let i = 0; i < 3; i++) await jpub(env, `${p}.mon`, { i });
  const viaHttp = await fetchEvents(env, name, { member_id: "m-http", max: 2 });
  assert.equal(viaHttp.length, 2);
  let g = await getGroup(env, name);
  assert.equal(g.member_count, 1);
  assert.equal(g.members.length, 1);
  assert.equal(g.members[0].id, "m-http");
  assert.equal(g.members[0].transport, "http");
  assert.equal(g.members[0].inflight, 2);
  assert.match(g.members[0].joined_at, RFC3339);

  const ws = await WsClient.open(env.wsUrl);
  try {
    await ws.join(name, `${p}.>`, "m-ws");
    const ev = await ws.nextEvent();
    g = await waitFor(async () => {
      const g = await getGroup(env, name);
      return g.members.some((m) => m.id === "m-ws" && m.inflight === 1) && g;
    }, { what: "m-ws listed with inflight 1" });
    assert.equal(g.member_count, 2);
    const byId = Object.fromEntries(g.members.map((m) => [m.id, m]));
    assert.equal(byId["m-ws"].transport, "ws");
    assert.match(byId["m-ws"].joined_at, RFC3339);
    assert.equal(byId["m-http"].transport, "http");
    assert.equal(byId["m-http"].inflight, 2);
    assert.equal(g.num_ack_pending, 3);
    const r = await ws.ackEvent(ev.eventId);
    assert.equal(r.status, "ok");
    await waitFor(async () => (await getGroup(env, name)).members.find((m) => m.id === "m-ws")?.inflight === 0, { what: "m-ws inflight 0" });
  } finally {
    await ws.close();
  }
  g = await waitFor(async () => {
    const g = await getGroup(env, name);
    return !g.members.some((m) => m.id === "m-ws") && g;
  }, { what: "m-ws gone after close" });
  assert.equal(g.member_count, 1);
  for (const e of viaHttp) await ackOk(env, name, e.event_id);
  g = await getGroup(env, name);
  assert.equal(g.members.find((m) => m.id === "m-http")?.inflight, 0);
  assert.equal(g.num_ack_pending, 0);
});

// ---------------------------------------------------------------------------------------
// Auth

const basic = (u, pw) => ({ authorization: "Basic " + Buffer.from(`${u}:${pw}`).toString("base64") });
const bearer = (t) => ({ authorization: `Bearer ${t}` });

test("auth (token): 401 without or with wrong credentials, Bearer works", async () => {
  const tok = "s3cret-tok";
  const a = await startGroups({ config: `authorization { token: "${tok}" }\n`, natsOpts: { token: tok } });
  try {
    await a.jsm.streams.add({ name: "TOK", subjects: ["tok.>"] });
    assertError(await a.api("GET", "/v1/groups"), 401, "unauthenticated", "no credentials");
    assertError(await a.api("GET", "/v1/groups", { headers: bearer("wrong") }), 401, "unauthenticated", "wrong token");
    assertError(await a.api("GET", "/v1/groups", { headers: { authorization: tok } }), 401, "unauthenticated", "token without scheme");
    assertError(await a.api("POST", "/v1/groups", { body: { name: "tg", pattern: "tok.>" } }), 401, "unauthenticated", "create without");
    assertError(await a.api("POST", "/v1/groups/tg/fetch", { body: { member_id: "m" } }), 401, "unauthenticated", "fetch without");
    assertError(await a.api("GET", "/v1/groups/tg", { headers: bearer(tok) }), 404, "not_found", "nothing was created");
    const ok = await a.api("GET", "/v1/groups", { headers: bearer(tok) });
    assertStatus(ok, 200, "Bearer");
    assert.equal(ok.body.total, 0);
    const created = await a.api("POST", "/v1/groups", { body: { name: "tg", pattern: "tok.>" }, headers: bearer(tok) });
    assertStatus(created, 201, "create with Bearer");
    const seq = (await a.js.publish("tok.a", sc.encode("{\"t\":1}"))).seq;
    const f = await a.api("POST", "/v1/groups/tg/fetch", { body: { member_id: "m", max: 5 }, headers: bearer(tok) });
    assertStatus(f, 200, "fetch with Bearer");
    assert.deepEqual(f.body.events.map((e) => e.sequence), [seq]);
    assertError(await a.api("POST", "/v1/groups/tg/ack", { body: { event_id: String(seq) } }), 401, "unauthenticated", "ack without");
    const k = await a.api("POST", "/v1/groups/tg/ack", { body: { event_id: String(seq) }, headers: bearer(tok) });
    assertStatus(k, 200, "ack with Bearer");
    assertError(await a.api("DELETE", "/v1/groups/tg", { headers: bearer("nope") }), 401, "unauthenticated", "delete wrong token");
    assertStatus(await a.api("DELETE", "/v1/groups/tg", { headers: bearer(tok) }), 200, "delete with Bearer");
  } finally {
    await a.close();
  }
});

test("auth (users): Basic works, 401 on bad credentials, 403 when permissions do not cover pattern or dead-letter subject", async () => {
  const conf = `authorization {
  users: [
    {user: admin, password: "adminpw"}
    {user: app, password: "apppw", permissions: {
      subscribe: {allow: ["app.>", "_INBOX.>"]}
      publish: {allow: ["app.>", "dlq.app.>", "$JS.API.>", "_INBOX.>"]}
    }}
  ]
}
`;
  const u = await startGroups({ config: conf, natsOpts: { user: "admin", pass: "adminpw" } });
  try {
    await u.jsm.streams.add({ name: "APP", subjects: ["app.>", "other.>"] });
    await u.jsm.streams.add({ name: "DLQ", subjects: ["dlq.>"] });
    const app = basic("app", "apppw");
    const admin = basic("admin", "adminpw");
    assertError(await u.api("GET", "/v1/groups"), 401, "unauthenticated", "no credentials");
    assertError(await u.api("GET", "/v1/groups", { headers: basic("app", "wrong") }), 401, "unauthenticated", "wrong password");
    assertError(await u.api("GET", "/v1/groups", { headers: basic("ghost", "apppw") }), 401, "unauthenticated", "unknown user");
    assertError(await u.api("GET", "/v1/groups", { headers: bearer("apppw") }), 401, "unauthenticated", "Bearer on a users server");
    assertError(await u.api("GET", "/v1/groups", { headers: { authorization: "Basic !!!" } }), 401, "unauthenticated", "malformed Basic");
    assertStatus(await u.api("GET", "/v1/groups", { headers: app }), 200, "Basic app");
    assertStatus(await u.api("GET", "/v1/groups", { headers: admin }), 200, "Basic admin");

    const okApp = await u.api("POST", "/v1/groups", { body: { name: "app-g", pattern: "app.orders.>", dead_letter_subject: "dlq.app.x" }, headers: app });
    assertStatus(okApp, 201, "app creates a group it may read");
    assertError(await u.api("POST", "/v1/groups", { body: { name: "app-other", pattern: "other.>" }, headers: app }), 403, "permission_denied",
      "pattern outside the user's subscribe permissions");
    assertError(await u.api("POST", "/v1/groups", { body: { name: "app-dlq", pattern: "app.x.>", dead_letter_subject: "dlq.other.x" }, headers: app }),
      403, "permission_denied", "dead_letter_subject outside the user's publish permissions");
    assertError(await u.api("GET", "/v1/groups/app-other", { headers: admin }), 404, "not_found", "the denied group was not created");
    assertError(await u.api("PATCH", "/v1/groups/app-g", { body: { dead_letter_subject: "dlq.other.x" }, headers: app }), 403, "permission_denied",
      "patch to a dead-letter subject the user may not publish");
    const still = await u.api("GET", "/v1/groups/app-g", { headers: app });
    assert.equal(still.body.dead_letter_subject, "dlq.app.x");
    assertStatus(await u.api("PATCH", "/v1/groups/app-g", { body: { max_inflight: 9 }, headers: app }), 200, "patch allowed");

    // A group the admin made on subjects the app may not read: fetch and ack are 403.
    assertStatus(await u.api("POST", "/v1/groups", { body: { name: "other-g", pattern: "other.>" }, headers: admin }), 201, "admin creates");
    const oseq = (await u.js.publish("other.a", sc.encode("o"))).seq;
    assertError(await u.api("POST", "/v1/groups/other-g/fetch", { body: { member_id: "m" }, headers: app }), 403, "permission_denied", "app fetches other-g");
    const af = await u.api("POST", "/v1/groups/other-g/fetch", { body: { member_id: "m", max: 5 }, headers: admin });
    assertStatus(af, 200, "admin fetches other-g");
    assert.deepEqual(af.body.events.map((e) => e.sequence), [oseq]);
    assertError(await u.api("POST", "/v1/groups/other-g/ack", { body: { event_id: String(oseq) }, headers: app }), 403, "permission_denied", "app acks on other-g");
    assertStatus(await u.api("POST", "/v1/groups/other-g/ack", { body: { event_id: String(oseq) }, headers: admin }), 200, "admin acks");

    const aseq = (await u.js.publish("app.orders.1", sc.encode("{\"o\":1}"))).seq;
    const f = await u.api("POST", "/v1/groups/app-g/fetch", { body: { member_id: "m", max: 5 }, headers: app });
    assertStatus(f, 200, "app fetches app-g");
    assert.deepEqual(f.body.events.map((e) => e.sequence), [aseq]);
    assertStatus(await u.api("POST", "/v1/groups/app-g/ack", { body: { event_id: String(aseq) }, headers: app }), 200, "app acks");
  } finally {
    await u.close();
  }
});
