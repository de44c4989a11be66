// Authentication and permissions with the nats.js client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ErrorCode, Events } from "nats";
import { startServer, writeConfig } from "./server.mjs";

test("token auth", async () => {
  const srv = await startServer(["--auth", "tok"]);
  try {
    await assert.rejects(connect({ servers: srv.url, reconnect: false }), (e) => {
      assert.equal(e.code, ErrorCode.AuthorizationViolation);
      return true;
    });
    const nc = await connect({ servers: srv.url, token: "tok" });
    await nc.close();
  } finally {
    await srv.stop();
  }
});

test("user permissions: publish violation is reported, connection stays", async () => {
  const cfg = writeConfig(`
authorization {
  users: [
    {user: app, password: pw, permissions: {publish: {deny: "secret.>"}, subscribe: {allow: ["pub.>", "_INBOX.>"]}}}
  ]
}`);
  const srv = await startServer(["-c", cfg]);
  try {
    await assert.rejects(connect({ servers: srv.url, user: "app", pass: "bad", reconnect: false }));
    const nc = await connect({ servers: srv.url, user: "app", pass: "pw" });
    const errors = [];
    (async () => {
      for await (const s of nc.status()) if (s.type === Events.Error) errors.push(String(s.data));
    })();
    nc.publish("secret.plan");
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(errors.some((e) => e.includes(ErrorCode.PermissionsViolation)), JSON.stringify(errors));
    assert.equal(nc.isClosed(), false);
    const sub = nc.subscribe("not.allowed");
    // nats.js ends the subscription's iterator with the server's permission error.
    await assert.rejects((async () => { for await (const _m of sub) { /* none */ } })(), (e) => {
      assert.equal(e.code, ErrorCode.PermissionsViolation);
      return true;
    });
    await nc.close();
  } finally {
    await srv.stop();
  }
});

test("accounts isolate subjects", async () => {
  const cfg = writeConfig(`
accounts {
  A: { users: [{user: a, password: a}] }
  B: { users: [{user: b, password: b}] }
}`);
  const srv = await startServer(["-c", cfg]);
  try {
    const a = await connect({ servers: srv.url, user: "a", pass: "a" });
    const b = await connect({ servers: srv.url, user: "b", pass: "b" });
    let got = 0;
    b.subscribe("x", { callback: () => { got++; } });
    await b.flush();
    a.publish("x");
    await a.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got, 0);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await srv.stop();
  }
});
