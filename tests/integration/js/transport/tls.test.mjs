// TLS on client connections: nats.js 2.x and @nats-io/transport-node 3.x over TLS, server and
// client certificate verification, a plaintext or stalled peer on a TLS port, verify_and_map,
// /connz TLS fields, HTTPS monitoring, reconnect, and a certificate reload on SIGHUP.
// The certificates are made at run time (certs.mjs). Every expectation here was observed with
// nats-server 2.9.10; where only an error class is asserted, nats-server (Go crypto/tls) and an
// OpenSSL-based server legitimately send different TLS alerts.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { connect, ErrorCode, Events, StringCodec, headers } from "nats";
import { connect as connect3, headers as headers3 } from "@nats-io/transport-node";
import { startServer, writeConfig, freePort } from "../server.mjs";
import { generateCerts } from "./certs.mjs";
import {
  WAIT_MS, bounded, sleep, waitFor, rawSocket, parseInfo, natsTlsHandshake, spawnServer,
} from "./helpers.mjs";

const sc = StringCodec();
let certs;
before(() => { certs = generateCerts(); });
after(() => certs?.cleanup());

// A `tls { ... }` block. server: an entry of certs (server, server2, wrongHost, expired).
function tlsBlock({ server = certs.server, ca = false, verify = false, verifyAndMap = false, timeout } = {}) {
  return `tls {
  cert_file: "${server.cert}"
  key_file: "${server.key}"
${ca ? `  ca_file: "${certs.ca.cert}"\n` : ""}${verify ? "  verify: true\n" : ""}${verifyAndMap ? "  verify_and_map: true\n" : ""}${timeout !== undefined ? `  timeout: ${timeout}\n` : ""}}
`;
}

async function withServer(config, fn) {
  const srv = await startServer(["-c", writeConfig(config)]);
  try {
    return await fn(srv);
  } finally {
    await srv.stop();
  }
}

// Client TLS options of nats.js (2.x and 3.x take the same): trust `ca`, present `client`.
function clientTls(client, ca = certs.ca) {
  return { caFile: ca.cert, ...(client ? { certFile: client.cert, keyFile: client.key } : {}) };
}

// Connection attempts never retry (a refusal must come back as the connect's rejection).
const once = { reconnect: false, timeout: 5000 };

// Error events of a connection (async errors such as permission violations), as messages.
function errorsOf(nc) {
  const errors = [];
  (async () => {
    for await (const s of nc.status()) if (s.type === Events.Error) errors.push(s.data?.message ?? String(s.data));
  })().catch(() => {});
  return errors;
}

// A refusal of the TLS handshake by the server (a client certificate missing or not trusted).
// nats-server (Go) sends alert 42 "bad certificate", which node reports as
// ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE, or the connection is reset first (the client already
// sent CONNECT: TLS 1.3 clients finish their side of the handshake before the server checks the
// certificate). An OpenSSL server sends "certificate required" (116) or "unknown ca" (48):
// ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, ERR_SSL_TLSV1_ALERT_UNKNOWN_CA. Any of these is
// a TLS-level refusal; an authorization error is not.
const TLS_REFUSAL = /^(ECONNRESET|EPIPE|ERR_SSL_\w+)$/;
function assertTlsRefusal(e) {
  assert.match(String(e?.code), TLS_REFUSAL, `expected a TLS-level refusal, got ${e?.code}: ${e?.message}`);
  return true;
}

// Node's reasons for not trusting a server certificate signed by a CA it does not know
// (which one depends on whether the server sends its chain).
const UNTRUSTED_CHAIN = /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/;

// Request/reply and pub/sub between two connections (any mix of nats.js 2.x and 3.x).
async function roundTrip(a, b, hdrs) {
  const subject = `rt.${Math.random().toString(36).slice(2)}`;
  const svc = b.subscribe(`${subject}.svc`, {
    callback: (err, m) => {
      if (err) return;
      const h = hdrs();
      h.set("X-Echo", m.headers?.get("X-In") ?? "none");
      m.respond(sc.encode(`re:${sc.decode(m.data)}`), { headers: h });
    },
  });
  const got = [];
  const sub = a.subscribe(`${subject}.note`, { callback: (_e, m) => got.push(sc.decode(m.data)) });
  await Promise.all([a.flush(), b.flush()]);
  b.publish(`${subject}.note`, sc.encode("one"));
  b.publish(`${subject}.note`, sc.encode("two"));
  const h = hdrs();
  h.set("X-In", "tls");
  const r = await a.request(`${subject}.svc`, sc.encode("ping"), { timeout: 3000, headers: h });
  assert.equal(sc.decode(r.data), "re:ping");
  assert.equal(r.headers?.get("X-Echo"), "tls");
  await waitFor("2 published messages", () => got.length === 2, 3000);
  assert.deepEqual(got, ["one", "two"]);
  svc.unsubscribe();
  sub.unsubscribe();
}

describe("TLS: clients connect over TLS", () => {
  test("nats.js 2.x (nats) with tls {caFile}: INFO has tls_required, pub/sub/request/headers work", async () => {
    await withServer(tlsBlock(), async (srv) => {
      const a = await connect({ servers: srv.url, tls: clientTls(), ...once });
      const b = await connect({ servers: srv.url, tls: clientTls(), ...once });
      try {
        assert.equal(a.info.tls_required, true, JSON.stringify(a.info));
        assert.equal(a.info.tls_verify, undefined, "no tls_verify without verify: true");
        await roundTrip(a, b, headers);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  test("@nats-io/transport-node 3.x with tls {caFile}: INFO has tls_required, works with a 2.x client", async () => {
    await withServer(tlsBlock(), async (srv) => {
      const a = await connect3({ servers: srv.url, tls: clientTls(), ...once });
      const b = await connect({ servers: srv.url, tls: clientTls(), ...once });
      try {
        assert.equal(a.info.tls_required, true, JSON.stringify(a.info));
        await roundTrip(a, b, headers3);
        await roundTrip(b, a, headers);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  test("the plaintext INFO before TLS says tls_required; the server presents the configured certificate", async () => {
    await withServer(tlsBlock(), async (srv) => {
      const h = await natsTlsHandshake(srv.port, { ca: [readFileSync(certs.ca.cert)] });
      try {
        assert.equal(h.error, null, String(h.error));
        assert.equal(h.info.tls_required, true);
        assert.equal(h.info.headers, true);
        assert.equal(typeof h.info.server_id, "string");
        assert.equal(h.peer.serialNumber.toLowerCase(), certs.server.serial);
        assert.equal(h.peer.subject.CN, "localhost");
        assert.equal(h.protocol, "TLSv1.3");
      } finally {
        h.socket.destroy();
      }
    });
  });
});

describe("TLS: the client verifies the server certificate", () => {
  test("a client that trusts only another CA fails with a certificate chain error", async () => {
    await withServer(tlsBlock(), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(null, certs.otherCa), ...once }), (e) => {
        assert.match(String(e.code), UNTRUSTED_CHAIN, `${e.code}: ${e.message}`);
        return true;
      });
      await assert.rejects(connect3({ servers: srv.url, tls: clientTls(null, certs.otherCa), ...once }), (e) => {
        assert.match(String(e.code), UNTRUSTED_CHAIN, `${e.code}: ${e.message}`);
        return true;
      });
    });
  });

  test("an expired server certificate: CERT_HAS_EXPIRED", async () => {
    await withServer(tlsBlock({ server: certs.expired }), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(), ...once }), (e) => {
        assert.equal(e.code, "CERT_HAS_EXPIRED", e.message);
        return true;
      });
      await assert.rejects(connect3({ servers: srv.url, tls: clientTls(), ...once }), (e) => {
        assert.equal(e.code, "CERT_HAS_EXPIRED", e.message);
        return true;
      });
    });
  });

  test("a server certificate for wronghost.example: ERR_TLS_CERT_ALTNAME_INVALID", async () => {
    await withServer(tlsBlock({ server: certs.wrongHost }), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(), ...once }), (e) => {
        assert.equal(e.code, "ERR_TLS_CERT_ALTNAME_INVALID", e.message);
        assert.match(e.message, /DNS:wronghost\.example/);
        return true;
      });
      // The same with a raw handshake naming localhost, and naming 127.0.0.1 (no SNI: node
      // then checks the IP address).
      const ca = [readFileSync(certs.ca.cert)];
      for (const servername of ["localhost", undefined]) {
        const h = await natsTlsHandshake(srv.port, { ca, servername, host: "127.0.0.1" });
        h.socket.destroy();
        assert.equal(h.error?.code, "ERR_TLS_CERT_ALTNAME_INVALID", String(h.error));
      }
    });
  });
});

describe("TLS: verify: true (client certificates)", () => {
  const config = () => tlsBlock({ ca: true, verify: true });

  test("INFO has tls_required and tls_verify; a client with a certificate from the CA connects and works", async () => {
    await withServer(config(), async (srv) => {
      const a = await connect({ servers: srv.url, tls: clientTls(certs.alice), ...once });
      const b = await connect3({ servers: srv.url, tls: clientTls(certs.mallory), ...once });
      try {
        assert.equal(a.info.tls_required, true);
        assert.equal(a.info.tls_verify, true, JSON.stringify(a.info));
        await roundTrip(a, b, headers);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  test("a client without a certificate is refused at the TLS level (not an authorization error)", async () => {
    await withServer(config(), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(), ...once }), assertTlsRefusal);
      await assert.rejects(connect3({ servers: srv.url, tls: clientTls(), ...once }), assertTlsRefusal);
    });
  });

  test("a client certificate from another CA is refused at the TLS level", async () => {
    await withServer(config(), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(certs.otherAlice), ...once }), assertTlsRefusal);
      await assert.rejects(connect3({ servers: srv.url, tls: clientTls(certs.otherAlice), ...once }), assertTlsRefusal);
    });
  });

  test("raw: without a certificate no application data comes back and the connection ends", async () => {
    await withServer(config(), async (srv) => {
      const h = await natsTlsHandshake(srv.port, { ca: [readFileSync(certs.ca.cert)] });
      assert.equal(h.info.tls_verify, true);
      if (h.error) {
        // TLS 1.2 (or a server that rejects before the client's Finished is processed).
        assertTlsRefusal(h.error);
        return;
      }
      // TLS 1.3: the client's side of the handshake completed; the server's verdict follows.
      const s = h.socket;
      let data = "";
      s.on("data", (d) => { data += d; });
      const ended = new Promise((resolve) => {
        s.on("error", (e) => resolve(e));
        s.on("close", () => resolve(null));
      });
      s.write("CONNECT {\"verbose\":false}\r\nPING\r\n");
      const how = await bounded(ended, 5000, "the server to end the connection");
      s.destroy();
      assert.equal(data, "", "no INFO/-ERR/PONG over the refused TLS session");
      if (how) assertTlsRefusal(how);
    });
  });
});

describe("TLS: a plaintext or stalled peer on a TLS port", () => {
  test("a plaintext CONNECT+PING after the INFO line: no reply at all, the server closes", async () => {
    await withServer(tlsBlock(), async (srv) => {
      const r = rawSocket(srv.port);
      await bounded(r.connected, WAIT_MS, "connect");
      const [line] = await r.until(/^INFO .*\r\n/);
      const info = parseInfo(line);
      assert.equal(info.tls_required, true);
      r.socket.write("CONNECT {}\r\nPING\r\n");
      const end = await bounded(r.ended, 5000, "the server to close the plaintext connection");
      assert.equal(r.text().slice(line.length), "", "nothing after the INFO line (no -ERR, no PONG, no TLS alert)");
      // nats-server closes with a FIN; a reset is the same outcome for the client.
      assert.ok(end.how === "end" || end.error?.code === "ECONNRESET", JSON.stringify(end));
    });
  });

  test("a TCP peer that never starts TLS is closed after tls timeout (0.5 s)", async () => {
    await withServer(tlsBlock({ timeout: 0.5 }), async (srv) => {
      const r = rawSocket(srv.port);
      await bounded(r.connected, WAIT_MS, "connect");
      const [line] = await r.until(/^INFO .*\r\n/);
      assert.equal(parseInfo(line).tls_required, true);
      const end = await bounded(r.ended, 15000, "the server to close the connection after the TLS timeout");
      assert.equal(r.text().slice(line.length), "", "nothing after the INFO line");
      assert.ok(end.how === "end" || end.error?.code === "ECONNRESET", JSON.stringify(end));
      assert.ok(end.ms >= 300, `closed after ${end.ms} ms: not before the timeout`);
    });
  });
});

describe("TLS: verify_and_map maps certificates to users", () => {
  // nats-server 2.9.10 tries, in this order: each email SAN, each DNS SAN, each URI SAN, then
  // the subject DN. The DN is written as RFC 4514 shows it (the certificate's last RDN first:
  // a subject made with -subj "/O=Osprey/OU=eng/CN=alice" is "CN=alice,OU=eng,O=Osprey"), and
  // it also matches when the RDNs come in another order.
  const config = () => `${tlsBlock({ ca: true, verifyAndMap: true })}
authorization {
  users = [
    {user: "CN=alice,OU=eng,O=Osprey", permissions: {publish: "alice.>", subscribe: ["alice.>", "_INBOX.>"]}}
    {user: "alice@example.com", permissions: {publish: "mail.>", subscribe: ["mail.>", "_INBOX.>"]}}
    {user: "CN=alice-mail", permissions: {publish: "dn.>", subscribe: ["dn.>", "_INBOX.>"]}}
    {user: "svc.osprey.test", permissions: {publish: "svc.>", subscribe: ["svc.>", "_INBOX.>"]}}
  ]
}
`;

  // Connects with the client certificate; checks that `allowed` is allowed (a loopback message)
  // and `denied` gives a permissions violation while the connection stays up; then the same on
  // the wire (a raw TLS session): the exact -ERR line, and PONG after it.
  async function checkMapped(srv, client, allowed, denied) {
    const nc = await connect({ servers: srv.url, tls: clientTls(client), ...once });
    try {
      const errors = errorsOf(nc);
      const got = [];
      nc.subscribe(allowed, { callback: (_e, m) => got.push(m.subject) });
      await nc.flush();
      nc.publish(allowed, sc.encode("ok"));
      nc.publish(denied, sc.encode("no"));
      await nc.flush();
      await waitFor(`the message on ${allowed}`, () => got.length === 1, 3000);
      await waitFor(`a permissions violation for ${denied}; errors ${JSON.stringify(errors)}`,
        () => errors.length > 0, 3000);
      assert.deepEqual(errors, [ErrorCode.PermissionsViolation]);
      assert.equal(nc.isClosed(), false);
    } finally {
      await nc.close();
    }
    const h = await natsTlsHandshake(srv.port, {
      ca: [readFileSync(certs.ca.cert)], cert: readFileSync(client.cert), key: readFileSync(client.key),
    });
    assert.equal(h.error, null, String(h.error));
    try {
      let data = "";
      h.socket.on("data", (d) => { data += d; });
      h.socket.write(`CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPUB ${denied} 2\r\nno\r\nPING\r\n`);
      await waitFor(`PONG; got ${JSON.stringify(data)}`, () => data.includes("PONG\r\n"), 3000, 10);
      assert.equal(data, `-ERR 'Permissions Violation for Publish to "${denied}"'\r\nPONG\r\n`);
    } finally {
      h.socket.destroy();
    }
  }

  test('subject O=Osprey/OU=eng/CN=alice maps to user "CN=alice,OU=eng,O=Osprey" and its permissions apply', async () => {
    await withServer(config(), async (srv) => {
      await checkMapped(srv, certs.alice, "alice.x", "bob.x");
    });
  });

  test("the DN matches whatever the RDN order in the certificate (CN=alice/OU=eng/O=Osprey)", async () => {
    await withServer(config(), async (srv) => {
      await checkMapped(srv, certs.aliceReversed, "alice.y", "bob.y");
    });
  });

  test("an email SAN maps to the user named by the address, before the subject DN", async () => {
    await withServer(config(), async (srv) => {
      // The certificate's DN is CN=alice-mail (also a user, allowed only dn.>): the email wins.
      await checkMapped(srv, certs.aliceEmail, "mail.x", "dn.x");
    });
  });

  test("a DNS SAN maps to the user named by the DNS name", async () => {
    await withServer(config(), async (srv) => {
      await checkMapped(srv, certs.svcDns, "svc.x", "alice.x");
    });
  });

  test("a certificate from the CA that maps to no user: Authorization Violation", async () => {
    await withServer(config(), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(certs.mallory), ...once }), (e) => {
        assert.equal(e.code, ErrorCode.AuthorizationViolation, `${e.code}: ${e.message}`);
        assert.equal(e.message, "'Authorization Violation'");
        return true;
      });
      await assert.rejects(connect3({ servers: srv.url, tls: clientTls(certs.mallory), ...once }), (e) => {
        assert.equal(e.name, "AuthorizationError", `${e.name}: ${e.message}`);
        assert.equal(e.message, "Authorization Violation");
        return true;
      });
      // On the wire: -ERR 'Authorization Violation', then the server closes.
      const h = await natsTlsHandshake(srv.port, {
        ca: [readFileSync(certs.ca.cert)], cert: readFileSync(certs.mallory.cert), key: readFileSync(certs.mallory.key),
      });
      assert.equal(h.error, null, String(h.error));
      let data = "";
      h.socket.on("data", (d) => { data += d; });
      const closed = new Promise((resolve) => { h.socket.on("close", resolve); h.socket.on("error", () => {}); });
      h.socket.write("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n");
      await bounded(closed, 5000, "the server to close after the authorization violation");
      assert.equal(data, "-ERR 'Authorization Violation'\r\n");
    });
  });

  test("no certificate, or one from another CA, is refused at the TLS level", async () => {
    await withServer(config(), async (srv) => {
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(), ...once }), assertTlsRefusal);
      await assert.rejects(connect({ servers: srv.url, tls: clientTls(certs.otherAlice), ...once }), assertTlsRefusal);
    });
  });
});

describe("TLS: monitoring", () => {
  test("/connz shows tls_version and tls_cipher_suite of a TLS client; /varz says tls_required", async () => {
    await withServer(tlsBlock(), async (srv) => {
      const nc = await connect({ servers: srv.url, tls: clientTls(), name: "tls-connz", ...once });
      try {
        await nc.flush();
        const connz = await bounded(fetch(`http://127.0.0.1:${srv.httpPort}/connz`).then((r) => r.json()),
          WAIT_MS, "GET /connz");
        const conn = connz.connections.find((c) => c.name === "tls-connz");
        assert.ok(conn, JSON.stringify(connz.connections));
        assert.equal(conn.cid, nc.info.client_id);
        assert.equal(conn.tls_version, "1.3", JSON.stringify(conn));
        // nats-server: TLS_AES_128_GCM_SHA256 (the cipher depends on the TLS library's order).
        assert.match(conn.tls_cipher_suite, /^TLS_[A-Z0-9_]+$/, JSON.stringify(conn));
        const varz = await bounded(fetch(`http://127.0.0.1:${srv.httpPort}/varz`).then((r) => r.json()),
          WAIT_MS, "GET /varz");
        assert.equal(varz.tls_required, true);
      } finally {
        await nc.close();
      }
    });
  });

  test("https_port (and no http port): GET /varz over HTTPS trusting the CA", async () => {
    const httpsPort = await freePort();
    const cfg = writeConfig(`${tlsBlock()}https_port: ${httpsPort}\n`);
    // Not startServer: it passes -m (an http port), and nats-server refuses both.
    const srv = await spawnServer({ args: ["-c", cfg], waitPorts: [httpsPort] });
    try {
      const ca = [readFileSync(certs.ca.cert)];
      const res = await bounded(new Promise((resolve, reject) => {
        https.get({ host: "127.0.0.1", port: httpsPort, path: "/varz", ca, servername: "localhost" }, (r) => {
          let body = "";
          r.on("data", (d) => { body += d; });
          r.on("end", () => resolve({ status: r.statusCode, type: r.headers["content-type"], body }));
          r.on("error", reject);
        }).on("error", reject);
      }), WAIT_MS, "GET https /varz");
      assert.equal(res.status, 200, res.body);
      assert.match(res.type, /^application\/json/);
      const varz = JSON.parse(res.body);
      assert.equal(varz.https_port, httpsPort);
      assert.equal(varz.port, srv.port);
      assert.equal(varz.tls_required, true);
      // A client that does not trust the CA is refused.
      await assert.rejects(bounded(new Promise((resolve, reject) => {
        https.get({ host: "127.0.0.1", port: httpsPort, path: "/varz", ca: [readFileSync(certs.otherCa.cert)], servername: "localhost" },
          resolve).on("error", reject);
      }), WAIT_MS, "GET https /varz, other CA"), (e) => UNTRUSTED_CHAIN.test(e.code));
      // Plain HTTP on the HTTPS port gets no /varz.
      const plain = await bounded(fetch(`http://127.0.0.1:${httpsPort}/varz`).then((r) => r.status, (e) => e.cause?.code ?? "error"),
        WAIT_MS, "plain GET on the https port");
      assert.notEqual(plain, 200);
    } finally {
      await srv.stop();
    }
  });
});

describe("TLS: reconnect and certificate reload", () => {
  test("a TLS client reconnects after the server restarts on the same port with the same config", async () => {
    const port = await freePort();
    const cfg = writeConfig(tlsBlock());
    let srv = await spawnServer({ port, args: ["-c", cfg] });
    let nc;
    try {
      nc = await connect({
        servers: srv.url, tls: clientTls(), reconnectTimeWait: 100, maxReconnectAttempts: -1, timeout: 5000,
      });
      const events = [];
      (async () => { for await (const s of nc.status()) events.push(s.type); })().catch(() => {});
      const got = [];
      nc.subscribe("after.restart", { callback: (_e, m) => got.push(sc.decode(m.data)) });
      await nc.flush();
      await srv.stop();
      await waitFor("the client to notice the disconnect", () => events.includes(Events.Disconnect), 5000);
      srv = await spawnServer({ port, args: ["-c", cfg] });
      await waitFor(`a reconnect; events ${JSON.stringify(events)}`, () => events.includes(Events.Reconnect), 10_000);
      // The subscription was replayed on the new TLS connection.
      const other = await connect({ servers: srv.url, tls: clientTls(), ...once });
      try {
        await nc.flush();
        other.publish("after.restart", sc.encode("back"));
        await other.flush();
        await waitFor("the message after the reconnect", () => got.length === 1, 3000);
        assert.deepEqual(got, ["back"]);
      } finally {
        await other.close();
      }
    } finally {
      await nc?.close().catch(() => {});
      await srv.stop();
    }
  });

  test("SIGHUP with a new certificate: an existing connection stays and works, new ones see the new certificate", async () => {
    const cfgText = (server) => tlsBlock({ server });
    const cfg = writeConfig(cfgText(certs.server));
    const srv = await startServer(["-c", cfg]);
    const ca = [readFileSync(certs.ca.cert)];
    const peerSerial = async () => {
      const h = await natsTlsHandshake(srv.port, { ca });
      h.socket.destroy();
      if (h.error) throw h.error;
      return h.peer.serialNumber.toLowerCase();
    };
    const a = await connect({ servers: srv.url, tls: clientTls(), ...once });
    try {
      const events = [];
      (async () => { for await (const s of a.status()) events.push(s.type); })().catch(() => {});
      assert.equal(await peerSerial(), certs.server.serial);

      writeFileSync(cfg, cfgText(certs.server2));
      process.kill(srv.pid, "SIGHUP");
      const alive = () => { try { process.kill(srv.pid, 0); return true; } catch { return false; } };
      const serial = await waitFor("new TLS connections to get server2's certificate", async () => {
        let s;
        try {
          s = await peerSerial();
        } catch (e) {
          await sleep(100);
          if (!alive()) throw new Error(`the server exited on SIGHUP: ${srv.log().slice(-2000)}`);
          throw e;
        }
        return s === certs.server2.serial && s;
      }, 5000, 100);
      assert.equal(serial, certs.server2.serial);

      // The connection made before the reload is the same one and still works.
      const b = await connect({ servers: srv.url, tls: clientTls(), ...once });
      try {
        await roundTrip(a, b, headers);
        await roundTrip(b, a, headers);
      } finally {
        await b.close();
      }
      assert.equal(a.isClosed(), false);
      assert.ok(!events.includes(Events.Disconnect) && !events.includes(Events.Reconnect),
        `no disconnect or reconnect: ${JSON.stringify(events)}`);
      // And /connz still lists that connection (same cid).
      const connz = await bounded(fetch(`http://127.0.0.1:${srv.httpPort}/connz`).then((r) => r.json()),
        WAIT_MS, "GET /connz");
      assert.ok(connz.connections.some((c) => c.cid === a.info.client_id), JSON.stringify(connz.connections));
    } finally {
      await a.close();
      await srv.stop();
    }
  });
});
