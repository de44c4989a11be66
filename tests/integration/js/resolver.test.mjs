// The nats based account resolver (`resolver { type: full, dir }`), as nsc-made setups use it:
// account JWTs pushed while the server runs (`nsc push` sends them to $SYS.REQ.CLAIMS.UPDATE),
// stored in the directory (a restart keeps them), answered as nats-server answers (LOOKUP,
// LIST, errors), and taking effect at once: a new account's users log in, an account that
// imports a new export reaches it, a revoked user and connections over a lowered limit are
// closed, an account granted JetStream creates a stream. The MEMORY resolver takes updates of
// the accounts it has. Keys and JWTs are made here (@nats-io/nkeys, @nats-io/jwt). Run with
// OSPREY_BIN set to osprey or (the differential run) to nats-server: the same expectations; the
// cluster cases also run mixed (an osprey and a nats-server 2.9.10 resolver side by side).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { createOperator, createAccount, createUser } from "@nats-io/nkeys";
import { encodeOperator, encodeAccount, encodeUser, encodeGeneric, fmtCreds } from "@nats-io/jwt";
import { freePort, startServer, writeConfig } from "./server.mjs";

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// An account JWT without limits allows no connections (jwt v2's reading): these allow all.
const open = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1 };

async function world() {
  const op = createOperator();
  const sys = createAccount();
  const opJwt = await encodeOperator("OP", op, { system_account: sys.getPublicKey() });
  const sysJwt = await encodeAccount("SYS", sys, { limits: open }, { signer: op });
  const account = async (name, kp, extra = {}) =>
    encodeAccount(name, kp, { limits: { ...open, ...(extra.limits ?? {}) }, ...extra, limits: { ...open, ...(extra.limits ?? {}) } }, { signer: op });
  const creds = async (acc, perms = {}) => {
    const u = createUser();
    return { pub: u.getPublicKey(), creds: fmtCreds(await encodeUser("u", u, acc, perms), u) };
  };
  return { op, sys, opJwt, sysJwt, account, creds };
}

async function login(srv, c, opts = {}) {
  return connect({ servers: srv.url, authenticator: credsAuthenticator(c.creds ?? c), reconnect: false, timeout: 3000, ...opts });
}
async function loginError(srv, c) {
  try {
    const nc = await login(srv, c);
    await nc.close();
    return null;
  } catch (e) {
    return e;
  }
}
// Every reply to one request within `ms` (nsc push collects them all).
async function requestAll(nc, subject, body, ms = 1000) {
  const inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
  const got = [];
  const sub = nc.subscribe(inbox, { callback: (_, m) => got.push(m) });
  await nc.flush();
  nc.publish(subject, typeof body === "string" ? enc(body) : body, { reply: inbox });
  for (let t = 0; t < ms / 50 && got.length === 0; t++) await sleep(50);
  await sleep(100);
  sub.unsubscribe();
  return got;
}
async function push(sysNc, jwt, subject = "$SYS.REQ.CLAIMS.UPDATE") {
  const r = await requestAll(sysNc, subject, jwt);
  assert.equal(r.length, 1, `one reply to ${subject}`);
  return JSON.parse(dec(r[0].data));
}
// Waits (bounded) until the connection is closed; its error text, or "".
async function closedWith(nc, ms = 5000) {
  const err = await Promise.race([nc.closed(), sleep(ms).then(() => "still open")]);
  return err === "still open" ? err : String(err?.message ?? err ?? "");
}

// A server with a full resolver (plus `extra(dir)` in its config), a connection of the system
// account, and the connections a test opens; close() stops it all.
async function fullResolverServer(w, extra = () => "") {
  const dir = mkdtempSync(join(tmpdir(), "osprey-resolver-"));
  const conf = writeConfig(`operator: "${w.opJwt}"
system_account: ${w.sys.getPublicKey()}
resolver: { type: full, dir: "${dir}/jwt" }
resolver_preload: { ${w.sys.getPublicKey()}: "${w.sysJwt}" }
${extra(dir)}
`);
  const srv = await startServer(["-c", conf]);
  const conns = [];
  const sysNc = await login(srv, await w.creds(w.sys));
  conns.push(sysNc);
  return {
    srv, dir, sysNc, conns,
    async close() {
      for (const c of conns) await c.close().catch(() => {});
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("full resolver: pushed accounts log in at once, are stored, looked up and listed; errors as nats-server", async () => {
  const w = await world();
  const dir = mkdtempSync(join(tmpdir(), "osprey-resolver-"));
  const conf = writeConfig(`operator: "${w.opJwt}"
system_account: ${w.sys.getPublicKey()}
resolver: { type: full, dir: "${dir}/jwt" }
resolver_preload: { ${w.sys.getPublicKey()}: "${w.sysJwt}" }
`);
  let srv = await startServer(["-c", conf]);
  const conns = [];
  try {
    const sysUser = await w.creds(w.sys);
    const sysNc = await login(srv, sysUser);
    conns.push(sysNc);
    const a = createAccount();
    const aUser = await w.creds(a);
    assert.match(String((await loginError(srv, aUser))?.message), /Authorization Violation/i, "A is not known yet");

    const aJwt = await w.account("A", a);
    const r = await push(sysNc, aJwt);
    assert.deepEqual(r.data, { account: a.getPublicKey(), code: 200, message: "jwt updated" });
    assert.ok(r.server?.name, "the reply names its server (nsc push needs it)");
    assert.equal(readFileSync(join(dir, "jwt", `${a.getPublicKey()}.jwt`), "utf8"), aJwt, "stored as <key>.jwt");

    const a1 = await login(srv, aUser);
    conns.push(a1);
    const sub = a1.subscribe("hello", { max: 1 });
    await a1.flush();
    a1.publish("hello", enc("world"));
    for await (const m of sub) assert.equal(dec(m.data), "world");

    // LOOKUP answers the raw JWT; LIST the stored keys.
    const look = await requestAll(sysNc, `$SYS.REQ.ACCOUNT.${a.getPublicKey()}.CLAIMS.LOOKUP`, "");
    assert.equal(look.length, 1);
    assert.equal(dec(look[0].data), aJwt);
    assert.equal((await requestAll(sysNc, `$SYS.REQ.ACCOUNT.${createAccount().getPublicKey()}.CLAIMS.LOOKUP`, "", 500)).length, 0,
      "an unknown account gets no answer");
    const list = JSON.parse(dec((await requestAll(sysNc, "$SYS.REQ.CLAIMS.LIST", ""))[0].data));
    assert.deepEqual([...list.data].sort(), [a.getPublicKey(), w.sys.getPublicKey()].sort());

    // Refusals, in nats-server's words.
    const bad = await push(sysNc, "not a jwt");
    assert.deepEqual(bad.error, { account: "n/a", code: 500, description: "jwt update resulted in error - expected 3 chunks" });
    assert.deepEqual(Object.keys(bad.server), ["name", "host", "id", "ver", "seq", "jetstream", "time"]);
    const other = createAccount();
    const mismatch = await push(sysNc, aJwt, `$SYS.REQ.ACCOUNT.${other.getPublicKey()}.CLAIMS.UPDATE`);
    assert.deepEqual(mismatch.error, { account: other.getPublicKey(), code: 500,
      description: "jwt update resulted in error - subject does not match jwt content" });
    // A user JWT is not an account JWT.
    const notAccount = await push(sysNc, dec(aUser.creds).split("\n")[1]);
    assert.deepEqual(notAccount.error, { account: "n/a", code: 500, description: "jwt update resulted in error - not account claim" });

    // The per-account subject works too; an account from another operator is stored but never
    // let in (nats-server checks the issuer only when it uses the JWT).
    const stranger = createOperator();
    const f = createAccount();
    const fJwt = await encodeAccount("F", f, { limits: open }, { signer: stranger });
    const fr = await push(sysNc, fJwt, `$SYS.REQ.ACCOUNT.${f.getPublicKey()}.CLAIMS.UPDATE`);
    assert.equal(fr.data?.message, "jwt updated", JSON.stringify(fr));
    assert.match(String((await loginError(srv, await w.creds(f)))?.message), /Authorization Violation/i);

    // Deleting needs allow_delete.
    const delToken = await encodeGeneric("delete", w.op, "generic", { accounts: [a.getPublicKey()] });
    const noDelete = (await requestAll(sysNc, "$SYS.REQ.CLAIMS.DELETE", delToken)).map((m) => JSON.parse(dec(m.data)));
    assert.deepEqual(noDelete.map((r) => r.error), [{ code: 500,
      description: `delete accounts request by ${w.op.getPublicKey()} failed - delete must be enabled in server config` }]);

    // A restart keeps what was pushed.
    for (const c of conns.splice(0)) await c.close().catch(() => {});
    await srv.stop();
    srv = await startServer(["-c", conf]);
    const again = await login(srv, aUser);
    conns.push(again);
    await again.flush();
  } finally {
    for (const c of conns) await c.close().catch(() => {});
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("full resolver: an update takes effect at once: imports of a new export, revocations, a lowered connection limit", async () => {
  const w = await world();
  const h = await fullResolverServer(w);
  const { srv, sysNc, conns } = h;
  try {
    const a = createAccount();
    const b = createAccount();
    assert.equal((await push(sysNc, await w.account("A", a))).data?.code, 200);
    assert.equal((await push(sysNc, await w.account("B", b))).data?.code, 200);
    const aUser = await w.creds(a), bUser = await w.creds(b);
    const a1 = await login(srv, aUser), b1 = await login(srv, bUser);
    conns.push(a1, b1);
    b1.subscribe("svc.time", { callback: (_, m) => m.respond(enc("noon")) });
    await b1.flush();
    await assert.rejects(a1.request("svc.time", enc(""), { timeout: 500 }), "no import yet");

    // B exports the service, A imports it: a request from A is answered by B's responder.
    assert.equal((await push(sysNc, await w.account("B", b, { exports: [{ name: "t", subject: "svc.>", type: "service" }] }))).data?.code, 200);
    assert.equal((await push(sysNc, await w.account("A", a, { imports: [{ name: "t", subject: "svc.time", account: b.getPublicKey(), type: "service" }] }))).data?.code, 200);
    let answer = null;
    for (let t = 0; t < 20 && !answer; t++) answer = await a1.request("svc.time", enc(""), { timeout: 500 }).catch(() => null);
    assert.ok(answer, "the import works without a restart");
    assert.equal(dec(answer.data), "noon");

    // Revoking one user of A closes its connection (and refuses it again); the other stays.
    const a2User = await w.creds(a);
    const a2 = await login(srv, a2User);
    conns.push(a2);
    const now = Math.floor(Date.now() / 1000);
    const revoked = await w.account("A", a, {
      imports: [{ name: "t", subject: "svc.time", account: b.getPublicKey(), type: "service" }],
      revocations: { [a2User.pub]: now + 1 },
    });
    assert.equal((await push(sysNc, revoked)).data?.code, 200);
    assert.match(await closedWith(a2), /revoked/i);
    assert.match(String((await loginError(srv, a2User))?.message), /Authorization Violation/i);
    await a1.flush();  // still open

    // A's connection limit lowered to 1 with two open: the older one goes.
    const a3 = await login(srv, await w.creds(a));
    conns.push(a3);
    await a3.flush();
    const limited = await w.account("A", a, {
      imports: [{ name: "t", subject: "svc.time", account: b.getPublicKey(), type: "service" }],
      revocations: { [a2User.pub]: now + 1 },
      limits: { conn: 1 },
    });
    assert.equal((await push(sysNc, limited)).data?.code, 200);
    assert.match(await closedWith(a1), /maximum account active connections exceeded/i);
    await a3.flush();  // the newest stays

    // A subscription limit below what a connection holds closes it.
    for (const s of ["s.1", "s.2", "s.3"]) a3.subscribe(s);
    await a3.flush();
    const fewSubs = await w.account("A", a, {
      imports: [{ name: "t", subject: "svc.time", account: b.getPublicKey(), type: "service" }],
      revocations: { [a2User.pub]: now + 1 },
      limits: { conn: 1, subs: 2 },
    });
    assert.equal((await push(sysNc, fewSubs)).data?.code, 200);
    assert.match(await closedWith(a3), /maximum subscriptions exceeded/i);
  } finally {
    await h.close();
  }
});

test("full resolver: an account pushed with JetStream limits gets JetStream", async () => {
  const w = await world();
  const h = await fullResolverServer(w, (dir) => `jetstream { store_dir: "${dir}/js" }`);
  const { srv, sysNc, conns } = h;
  try {
    const c = createAccount();
    const js = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
    assert.equal((await push(sysNc, await w.account("C", c, { limits: js }))).data?.code, 200);
    const nc = await login(srv, await w.creds(c));
    conns.push(nc);
    let si = null;
    for (let t = 0; t < 20 && !si; t++) {
      si = await (await jetstreamManager(nc)).streams.add({ name: "S", subjects: ["s.>"] }).catch(() => null);
      if (!si) await sleep(100);
    }
    assert.ok(si, "the stream is created");
    const pa = await (await import("@nats-io/jetstream")).jetstream(nc).publish("s.1", enc("x"));
    assert.equal(pa.seq, 1);
    // Its limits lowered while running: one stream at most, so a second one is refused.
    assert.equal((await push(sysNc, await w.account("C", c, { limits: { ...js, streams: 1 } }))).data?.code, 200);
    let refused = null;
    for (let t = 0; t < 20 && !refused; t++) {
      refused = await (await jetstreamManager(nc)).streams.add({ name: "T", subjects: ["t.>"] }).then(() => null, (e) => e);
      if (!refused) {
        await (await jetstreamManager(nc)).streams.delete("T");
        await sleep(100);
      }
    }
    assert.match(String(refused?.message), /maximum number of streams reached/);

    // A JWT without JetStream takes it away (the stream's files stay); granting it again
    // brings the stream back with its message.
    assert.equal((await push(sysNc, await w.account("C", c))).data?.code, 200);
    let off = null;
    for (let t = 0; t < 20 && !off; t++) {
      off = await jetstreamManager(nc).then((m) => m.streams.info("S")).then(() => null, (e) => e);
      if (!off) await sleep(100);
    }
    assert.match(String(off?.message), /jetstream not enabled/i);
    assert.equal((await push(sysNc, await w.account("C", c, { limits: js }))).data?.code, 200);
    let back = null;
    for (let t = 0; t < 30 && !back; t++) {
      back = await jetstreamManager(nc).then((m) => m.streams.info("S")).catch(() => null);
      if (!back) await sleep(100);
    }
    assert.equal(back?.state?.messages, 1, "the stream is back with its message");
  } finally {
    await h.close();
  }
});

test("MEMORY resolver: an update of a preloaded account takes effect; an unknown account is skipped", async () => {
  const w = await world();
  const a = createAccount();
  const aJwt = await w.account("A", a);
  const conf = writeConfig(`operator: "${w.opJwt}"
system_account: ${w.sys.getPublicKey()}
resolver: MEMORY
resolver_preload: {
  ${w.sys.getPublicKey()}: "${w.sysJwt}"
  ${a.getPublicKey()}: "${aJwt}"
}
`);
  const srv = await startServer(["-c", conf]);
  const conns = [];
  try {
    const sysNc = await login(srv, await w.creds(w.sys));
    conns.push(sysNc);
    const u = await w.creds(a);
    const a1 = await login(srv, u);
    conns.push(a1);
    const revoked = await w.account("A", a, { revocations: { [u.pub]: Math.floor(Date.now() / 1000) + 1 } });
    const r = await push(sysNc, revoked, `$SYS.REQ.ACCOUNT.${a.getPublicKey()}.CLAIMS.UPDATE`);
    assert.deepEqual(r.data, { account: a.getPublicKey(), code: 200, message: "jwt updated" });
    assert.match(await closedWith(a1), /revoked/i);
    const x = createAccount();
    const skipped = await push(sysNc, await w.account("X", x), `$SYS.REQ.ACCOUNT.${x.getPublicKey()}.CLAIMS.UPDATE`);
    assert.deepEqual(skipped.data, { account: x.getPublicKey(), code: 200, message: "jwt update skipped" });
    const viaClaims = await requestAll(sysNc, "$SYS.REQ.CLAIMS.UPDATE", aJwt, 500);
    // Nobody serves it under MEMORY: the requester hears "no responders" (a 503 status).
    assert.deepEqual(viaClaims.map((m) => [dec(m.data), m.headers?.code]), [["", 503]]);
  } finally {
    for (const c of conns) await c.close().catch(() => {});
    await srv.stop();
  }
});

// Mixed clusters too: osprey's cache resolver fetching from nats-server's full one, and the
// other way round (when both binaries are there and OSPREY_BIN is osprey).
const NATS = "/usr/sbin/nats-server";
const pairs = [["same", process.env.OSPREY_BIN, process.env.OSPREY_BIN]];
if (!/nats-server/.test(process.env.OSPREY_BIN ?? "") && existsSync(NATS))
  pairs.push(["nats-server full, osprey cache", NATS, process.env.OSPREY_BIN],
             ["osprey full, nats-server cache", process.env.OSPREY_BIN, NATS]);
for (const [label, fullBin, cacheBin] of pairs)
test(`cache resolver beside a full one (${label}): an unknown account is fetched from the full server at login; updates reach it once it has the account`, async () => {
  const w = await world();
  const dir = mkdtempSync(join(tmpdir(), "osprey-resolver-"));
  const cports = [await freePort(), await freePort()];
  const routes = cports.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const conf = (i, resolver) => writeConfig(`server_name: r${i}
operator: "${w.opJwt}"
system_account: ${w.sys.getPublicKey()}
resolver: ${resolver}
resolver_preload: { ${w.sys.getPublicKey()}: "${w.sysJwt}" }
cluster { name: RC, listen: 127.0.0.1:${cports[i]}, routes: [${routes}] }
`);
  const full = await startServer(["-c", conf(0, `{ type: full, dir: "${dir}/full" }`)], fullBin);
  const cache = await startServer(["-c", conf(1, `{ type: cache, dir: "${dir}/cache", ttl: "1h" }`)], cacheBin);
  const conns = [];
  try {
    const sysNc = await login(full, await w.creds(w.sys));
    conns.push(sysNc);
    // Bounded wait for the route: a system request answered by both servers.
    let names = [];
    for (let t = 0; t < 100 && names.length < 2; t++) {
      const r = await requestAll(sysNc, "$SYS.REQ.CLAIMS.LIST", "", 300);
      names = r.map((m) => JSON.parse(dec(m.data)).server.name).sort();
    }
    assert.deepEqual(names, ["r0", "r1"], "both servers answer the system account");

    // nsc push: every server answers; the cache one skips an account it does not have.
    const a = createAccount();
    const aJwt = await w.account("A", a);
    const replies = (await requestAll(sysNc, "$SYS.REQ.CLAIMS.UPDATE", aJwt))
      .map((m) => JSON.parse(dec(m.data))).sort((x, y) => x.server.name.localeCompare(y.server.name));
    assert.deepEqual(replies.map((r) => [r.server.name, r.data]), [
      ["r0", { account: a.getPublicKey(), code: 200, message: "jwt updated" }],
      ["r1", { account: a.getPublicKey(), code: 200, message: "jwt update cache skipped" }],
    ]);
    assert.ok(!existsSync(join(dir, "cache", `${a.getPublicKey()}.jwt`)));

    // A user of A logs in at the cache server: it fetches A from the full one and caches it.
    const u1 = await w.creds(a), u2 = await w.creds(a);
    const onCache = await login(cache, u1);
    conns.push(onCache);
    assert.equal(readFileSync(join(dir, "cache", `${a.getPublicKey()}.jwt`), "utf8"), aJwt, "cached as <key>.jwt");
    const onFull = await login(full, u2);
    conns.push(onFull);
    const got = [];
    onFull.subscribe("x", { callback: (_, m) => got.push(dec(m.data)) });
    await onFull.flush();
    for (let t = 0; t < 50 && !got.length; t++) {
      onCache.publish("x", enc("across"));
      await onCache.flush();
      await sleep(100);
    }
    assert.equal(got[0], "across", "the account's messages cross the route");
    // Interest announced before the cache server has the account: a subscriber of A2 on the
    // full server first, then a publisher of A2 logs in at the cache server (which fetches A2).
    const a2 = createAccount();
    assert.equal(JSON.parse(dec((await requestAll(sysNc, "$SYS.REQ.CLAIMS.UPDATE", await w.account("A2", a2)))
      .find((m) => JSON.parse(dec(m.data)).server.name === "r0").data)).data?.code, 200);
    const early = await login(full, await w.creds(a2));
    conns.push(early);
    const early_got = [];
    early.subscribe("y", { callback: (_, m) => early_got.push(dec(m.data)) });
    await early.flush();
    await sleep(200);  // the route carries the interest to the cache server, which has no A2 yet
    const late = await login(cache, await w.creds(a2));
    conns.push(late);
    for (let t = 0; t < 50 && !early_got.length; t++) {
      late.publish("y", enc("earlier interest"));
      await late.flush();
      await sleep(100);
    }
    assert.equal(early_got[0], "earlier interest", "interest announced before the account existed there");

    // An account nobody knows: refused after the fetch finds nothing.
    assert.match(String((await loginError(cache, await w.creds(createAccount())))?.message), /Authorization Violation/i);

    // Now the cache has A: an update revoking u1 reaches it and closes u1's connection there.
    const revoked = await w.account("A", a, { revocations: { [u1.pub]: Math.floor(Date.now() / 1000) + 1 } });
    const up = (await requestAll(sysNc, "$SYS.REQ.CLAIMS.UPDATE", revoked))
      .map((m) => JSON.parse(dec(m.data))).sort((x, y) => x.server.name.localeCompare(y.server.name));
    assert.deepEqual(up.map((r) => r.data?.message), ["jwt updated", "jwt updated cache"]);
    assert.match(await closedWith(onCache), /revoked/i);
  } finally {
    for (const c of conns) await c.close().catch(() => {});
    await cache.stop();
    await full.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

const syncPairs = [["same", process.env.OSPREY_BIN, process.env.OSPREY_BIN]];
if (!/nats-server/.test(process.env.OSPREY_BIN ?? "") && existsSync(NATS))
  syncPairs.push(["nats-server first", NATS, process.env.OSPREY_BIN], ["osprey first", process.env.OSPREY_BIN, NATS]);
for (const [label, firstBin, secondBin] of syncPairs)
test(`full resolver (${label}): an operator-signed delete (allow_delete) closes the account; full resolvers sync what they have`, async () => {
  const w = await world();
  const dir = mkdtempSync(join(tmpdir(), "osprey-resolver-"));
  const cports = [await freePort(), await freePort()];
  const routes = cports.map((p) => `nats://127.0.0.1:${p}`).join(", ");
  const conf = (i) => writeConfig(`server_name: s${i}
operator: "${w.opJwt}"
system_account: ${w.sys.getPublicKey()}
resolver: { type: full, dir: "${dir}/s${i}", allow_delete: true, interval: "1s" }
resolver_preload: { ${w.sys.getPublicKey()}: "${w.sysJwt}" }
cluster { name: SC, listen: 127.0.0.1:${cports[i]}, routes: [${routes}] }
`);
  const s0 = await startServer(["-c", conf(0)], firstBin);
  let s1 = null;
  const conns = [];
  try {
    const sysNc = await login(s0, await w.creds(w.sys));
    conns.push(sysNc);
    const a = createAccount(), b = createAccount();
    const aJwt = await w.account("A", a);
    assert.equal((await push(sysNc, aJwt)).data?.code, 200);
    assert.equal((await push(sysNc, await w.account("B", b))).data?.code, 200);

    // A second full server starts without them: the sync brings both.
    s1 = await startServer(["-c", conf(1)], secondBin);
    const want = [a, b].map((k) => join(dir, "s1", `${k.getPublicKey()}.jwt`));
    for (let t = 0; t < 100 && !want.every((f) => existsSync(f)); t++) await sleep(100);
    assert.ok(want.every((f) => existsSync(f)), "synced from the other full resolver");
    assert.equal(readFileSync(want[0], "utf8"), aJwt);

    // Deletes: refused unless self-signed by a trusted operator key, never the system account.
    const del = async (signer, accounts) => {
      const token = await encodeGeneric("delete", signer, "generic", { accounts });
      return (await requestAll(sysNc, "$SYS.REQ.CLAIMS.DELETE", token)).map((m) => JSON.parse(dec(m.data)));
    };
    const stranger = createOperator();
    const notTrusted = await del(stranger, [a.getPublicKey()]);
    assert.ok(notTrusted.length >= 1);
    for (const r of notTrusted)
      assert.deepEqual(r.error, { code: 500, description: `delete accounts request by ${stranger.getPublicKey()} failed - not trusted` });
    const sysDel = await del(w.op, [w.sys.getPublicKey()]);
    for (const r of sysDel)
      assert.deepEqual(r.error, { code: 500, description: `delete accounts request by ${w.op.getPublicKey()} failed - not allowed to delete system account` });

    const u = await w.creds(a);
    const onA = await login(s0, u);
    conns.push(onA);
    await onA.flush();
    const done = await del(w.op, [a.getPublicKey()]);
    assert.deepEqual(done.map((r) => r.data).sort((x, y) => x.message.localeCompare(y.message)),
      [{ code: 200, message: "deleted 1 accounts" }, { code: 200, message: "deleted 1 accounts" }], "both servers delete");
    assert.match(await closedWith(onA), /expired/i);
    assert.ok(existsSync(join(dir, "s0", `${a.getPublicKey()}.jwt.deleted`)), "renamed, as nats-server does");
    assert.ok(!existsSync(join(dir, "s0", `${a.getPublicKey()}.jwt`)));
    assert.match(String((await loginError(s0, u))?.message), /Authorization Violation/i);
  } finally {
    for (const c of conns) await c.close().catch(() => {});
    if (s1) await s1.stop();
    await s0.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("full resolver: a signing key removed by an update closes the users it issued; the others stay", async () => {
  const w = await world();
  const h = await fullResolverServer(w);
  const { srv, sysNc, conns } = h;
  try {
    const s = createAccount(), sk = createAccount();
    assert.equal((await push(sysNc, await w.account("S", s, { signing_keys: [sk.getPublicKey()] }))).data?.code, 200);
    const viaKey = createUser();
    const viaKeyCreds = fmtCreds(await encodeUser("k", viaKey, s, {}, { signer: sk }), viaKey);
    const byKey = await login(srv, viaKeyCreds);
    const byAccount = await login(srv, await w.creds(s));
    conns.push(byKey, byAccount);
    await byKey.flush();
    assert.equal((await push(sysNc, await w.account("S", s))).data?.code, 200);
    assert.notEqual(await closedWith(byKey), "still open", "the signing key's user is closed");
    await byAccount.flush();  // the account's own user stays
    assert.match(String((await loginError(srv, viaKeyCreds))?.message), /Authorization Violation/i);
  } finally {
    await h.close();
  }
});
