// Decentralized authentication with real clients: nkey users (nats.js 2.x signs the INFO nonce
// with the user's seed) and operator mode (the 3.x client logs in with a .creds file made by
// @nats-io/jwt: an operator, an account preloaded in the MEMORY resolver, a user JWT). Run with
// OSPREY_BIN set to osprey or (the differential run) to nats-server: the same expectations hold.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as connect2, nkeyAuthenticator, StringCodec } from "nats";
import { connect as connect3, credsAuthenticator } from "@nats-io/transport-node";
import { createOperator, createAccount, createUser } from "@nats-io/nkeys";
import { encodeOperator, encodeAccount, encodeUser, fmtCreds } from "@nats-io/jwt";
import { startServer, writeConfig } from "./server.mjs";

const sc = StringCodec();
const enc = (s) => new TextEncoder().encode(s);

// Resolves to the error a connect attempt ends with (bounded), or null if it connected.
async function connectError(connectFn, opts) {
  try {
    const nc = await connectFn({ ...opts, reconnect: false, timeout: 3000 });
    await nc.close();
    return null;
  } catch (e) {
    return e;
  }
}

test("nkey users sign the nonce; the wrong seed is refused; permissions hold", async () => {
  const alice = createUser();
  const bob = createUser();
  const stranger = createUser();
  const conf = writeConfig(`authorization {
  users: [
    { nkey: ${alice.getPublicKey()} }
    { nkey: ${bob.getPublicKey()}, permissions: { publish: { deny: ["secret.>"] } } }
  ]
}
`);
  const srv = await startServer(["-c", conf]);
  try {
    const a = await connect2({ servers: srv.url, authenticator: nkeyAuthenticator(alice.getSeed()) });
    const errors = [];
    const b = await connect2({ servers: srv.url, authenticator: nkeyAuthenticator(bob.getSeed()) });
    (async () => { for await (const s of b.status()) if (s.type === "error") errors.push(String(s.data)); })();
    const sub = a.subscribe(">", { max: 1 });
    await a.flush();
    b.publish("secret.plans", sc.encode("no"));   // denied: never delivered
    b.publish("open.news", sc.encode("yes"));
    await b.flush();
    for await (const m of sub) assert.equal(m.subject, "open.news");
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(errors.join(" "), /PERMISSIONS_VIOLATION|Permissions Violation/i);

    const e = await connectError(connect2, { servers: srv.url, authenticator: nkeyAuthenticator(stranger.getSeed()) });
    assert.ok(e, "an unknown nkey must be refused");
    assert.match(String(e.message ?? e), /Authorization Violation/i);
    const e2 = await connectError(connect2, { servers: srv.url, user: "x", pass: "y" });
    assert.ok(e2, "a user/password login must be refused where only nkeys are configured");
    await a.close();
    await b.close();
  } finally {
    await srv.stop();
  }
});

test("operator mode: a user JWT from a .creds file logs in to its account, and only there", async () => {
  const op = createOperator();
  const accA = createAccount();
  const accB = createAccount();
  const opJwt = await encodeOperator("OP", op);
  // An account JWT without limits allows no connections (nats-server's reading of jwt v2).
  const limits = { limits: { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1 } };
  const aJwt = await encodeAccount("A", accA, limits, { signer: op });
  const bJwt = await encodeAccount("B", accB, limits, { signer: op });
  const conf = writeConfig(`operator: "${opJwt}"
resolver: MEMORY
resolver_preload: {
  ${accA.getPublicKey()}: "${aJwt}"
  ${accB.getPublicKey()}: "${bJwt}"
}
`);
  const creds = async (acc, perms = {}, opts = {}) => {
    const u = createUser();
    return fmtCreds(await encodeUser("u", u, acc, perms, opts), u);
  };
  const srv = await startServer(["-c", conf]);
  try {
    const a1 = await connect3({ servers: srv.url, authenticator: credsAuthenticator(await creds(accA)) });
    const a2 = await connect3({ servers: srv.url, authenticator: credsAuthenticator(await creds(accA, { pub: { deny: ["x.secret"] } })) });
    const b1 = await connect3({ servers: srv.url, authenticator: credsAuthenticator(await creds(accB)) });
    const got = [];
    const sub = a1.subscribe("x.>");
    (async () => { for await (const m of sub) got.push(m.subject); })();
    const other = b1.subscribe("x.>");
    const gotB = [];
    (async () => { for await (const m of other) gotB.push(m.subject); })();
    await a1.flush();
    await b1.flush();
    a2.publish("x.secret", enc("denied"));
    a2.publish("x.one", enc("1"));
    b1.publish("x.from-b", enc("2"));
    await a2.flush();
    await b1.flush();
    for (let i = 0; i < 100 && (got.length < 1 || gotB.length < 1); i++) await new Promise((r) => setTimeout(r, 20));
    await a1.flush();
    assert.deepEqual(got, ["x.one"], "account A sees its own publishes only, and not the denied one");
    assert.deepEqual(gotB, ["x.from-b"], "account B sees only its own");

    // An expired user JWT, and one from an account the resolver does not know, are refused.
    const expired = await creds(accA, {}, { exp: Math.floor(Date.now() / 1000) - 10 });
    const e1 = await connectError(connect3, { servers: srv.url, authenticator: credsAuthenticator(expired) });
    assert.ok(e1, "an expired user JWT must be refused");
    const ghost = await creds(createAccount());
    const e2 = await connectError(connect3, { servers: srv.url, authenticator: credsAuthenticator(ghost) });
    assert.ok(e2, "a user of an unknown account must be refused");
    assert.match(String(e2.message ?? e2), /Authorization Violation/i);
    await a1.close();
    await a2.close();
    await b1.close();
  } finally {
    await srv.stop();
  }
});
