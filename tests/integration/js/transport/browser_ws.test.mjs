// NATS over WebSocket from a real browser: headless Chromium, driven over the DevTools
// protocol, loads a page (served by this test on loopback) that imports nats.ws as an ES module
// (node_modules/nats.ws/esm/nats.js, served by the same test server) and, over ws://:
// subscribes, publishes with a header, requests (the responder is a nats.js TCP client in
// node), fetches from a JetStream pull consumer and watches a KV key. The page writes what it
// got into the DOM and window.__t; the test reads that with Runtime.evaluate. The server allows
// only the page's origin (allowed_origins), so Chromium's real Origin header is checked, and a
// page from another origin is refused.
//
// wss:// in Chromium: the test CA is trusted the way Chromium on Linux trusts a local CA, in
// the NSS database of the browser's $HOME (made with certutil from libnss3-tools), never with
// --ignore-certificate-errors (which would not test the certificate). Without certutil the
// wss case is skipped, and ws:// is all the browser covers.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { connect, StringCodec, headers } from "nats";
import { startServer, writeConfig, freePort } from "../server.mjs";
import { generateCerts } from "./certs.mjs";
import { bounded, waitFor, waitForPort } from "./helpers.mjs";

const sc = StringCodec();
const WAIT_MS = 20_000; // the bound of every browser wait
const NATS_WS_ESM = new URL("../node_modules/nats.ws/esm/", import.meta.url);

function chromiumBinary() {
  return [process.env.CHROMIUM_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser"]
    .find((p) => p && existsSync(p));
}

function certutilBinary() {
  return ["/usr/bin/certutil", "/usr/local/bin/certutil"].find((p) => existsSync(p));
}

// Starts headless Chromium in its own process group (HOME: the one with the NSS database);
// resolves once it printed its DevTools URL.
async function launchChromium(bin, profileDir, home) {
  const proc = spawn(bin, [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check",
    "--remote-debugging-port=0", `--user-data-dir=${profileDir}`, "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"], detached: true, env: { ...process.env, HOME: home } });
  let log = "";
  const exited = new Promise((r) => proc.on("exit", r));
  const browser = {
    proc,
    log: () => log,
    // SIGKILL to the whole group (renderers, zygote) by the browser's PID.
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try { process.kill(-proc.pid, "SIGKILL"); } catch { proc.kill("SIGKILL"); }
      await bounded(exited, 5000, "chromium exit").catch(() => {});
    },
  };
  try {
    browser.wsUrl = await bounded(new Promise((resolve, reject) => {
      proc.stderr.on("data", (d) => {
        log += d.toString();
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(log);
        if (m) resolve(m[1]);
      });
      proc.on("exit", (code) => reject(new Error(`chromium exited (${code}): ${log}`)));
      proc.on("error", reject);
    }), WAIT_MS, "chromium's DevTools URL");
  } catch (e) {
    await browser.kill();
    throw e;
  }
  return browser;
}

// A minimal Chrome DevTools Protocol client over the browser endpoint (flat sessions).
class Cdp {
  static async connect(url) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await bounded(new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); }),
      WAIT_MS, "DevTools connection");
    return new Cdp(ws);
  }
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.calls = new Map();
    this.log = []; // console, exceptions and network errors of the page: context for failures
    ws.on("message", (raw) => {
      const msg = JSON.parse(raw.toString());
      if (msg.id !== undefined) {
        const call = this.calls.get(msg.id);
        if (!call) return;
        this.calls.delete(msg.id);
        if (msg.error) call.reject(new Error(`${call.method}: ${msg.error.message}`));
        else call.resolve(msg.result);
        return;
      }
      const p = msg.params || {};
      if (msg.method === "Runtime.consoleAPICalled") {
        this.note(`console.${p.type}: ${p.args.map((a) => a.value ?? a.description).join(" ")}`);
      } else if (msg.method === "Runtime.exceptionThrown") {
        this.note(`exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
      } else if (msg.method === "Log.entryAdded") {
        this.note(`log ${p.entry.level}: ${p.entry.text} ${p.entry.url ?? ""}`);
      }
    });
    ws.on("close", () => {
      for (const call of this.calls.values()) call.reject(new Error(`${call.method}: DevTools closed`));
      this.calls.clear();
    });
  }
  note(line) {
    this.log.push(line);
    if (this.log.length > 50) this.log.shift();
  }
  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const answer = new Promise((resolve, reject) => this.calls.set(id, { method, resolve, reject }));
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return bounded(answer, WAIT_MS, method);
  }
  close() { this.ws.terminate(); }
}

// The page. ?ws=<url> runs the whole scenario; ?probe=<url> only tries a WebSocket and reports
// how it ended (for the refused origin).
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>nats.ws in Chromium</title>
<style>body{font:14px sans-serif;margin:20px} li.ok{color:green} li.err{color:red}</style>
</head><body>
<h1>nats.ws in Chromium</h1>
<p id="status">starting...</p>
<ol id="log"></ol>
<script>
window.__t = { done: false, errors: [], log: [], received: [], fetched: [], kv: [],
  subscribed: false, watching: false, reply: null, pubAck: null, info: null, probe: null };
</script>
<script type="module">
import { connect, StringCodec, headers } from "/nats.js";
const t = window.__t;
const sc = StringCodec();
const q = new URLSearchParams(location.search);
const status = document.getElementById("status");
const log = (line, cls = "ok") => {
  t.log.push(line);
  const li = document.createElement("li");
  li.textContent = line;
  li.className = cls;
  document.getElementById("log").append(li);
};
async function probe(url) {
  status.textContent = "probing " + url;
  t.probe = await new Promise((resolve) => {
    const ws = new WebSocket(url);
    let errored = false;
    ws.onerror = () => { errored = true; };
    ws.onopen = () => { resolve({ opened: true }); ws.close(); };
    ws.onclose = (e) => resolve({ opened: false, errored, code: e.code });
  });
  log("probe: " + JSON.stringify(t.probe), t.probe.opened ? "err" : "ok");
  status.textContent = "probe done";
  t.done = true;
}
async function run(url, full) {
  status.textContent = "connecting to " + url;
  const nc = await connect({ servers: url, timeout: 10000 });
  t.info = { proto: nc.info.proto, headers: nc.info.headers, server_id: nc.info.server_id,
    tls_required: nc.info.tls_required ?? null };
  log("connected to " + url + " (server " + nc.info.server_id.slice(0, 8) + "...)");

  const sub = nc.subscribe("browser.in", { max: 2 });
  (async () => {
    for await (const m of sub) {
      t.received.push({ data: sc.decode(m.data), from: m.headers ? m.headers.get("X-From") : null });
      log("received on browser.in: " + sc.decode(m.data));
    }
  })();
  await nc.flush();
  t.subscribed = true;

  const h = headers();
  h.set("X-From", "chromium");
  nc.publish("from.browser", sc.encode("hello from the page"), { headers: h });
  log("published to from.browser");

  const r = await nc.request("svc.upper", sc.encode("make me loud"), { timeout: 5000 });
  t.reply = { data: sc.decode(r.data), responder: r.headers ? r.headers.get("X-Responder") : null };
  log("reply from svc.upper: " + t.reply.data);

  if (full) {
    const js = nc.jetstream();
    const consumer = await js.consumers.get("BROWSER", "page");
    const iter = await consumer.fetch({ max_messages: 3, expires: 5000 });
    for await (const m of iter) {
      t.fetched.push([m.seq, m.subject, sc.decode(m.data)]);
      m.ack();
      log("fetched #" + m.seq + " " + m.subject + ": " + sc.decode(m.data));
    }
    await nc.flush();
    const pa = await js.publish("browser.js.page", sc.encode("from the page"));
    t.pubAck = { stream: pa.stream, seq: pa.seq };
    log("JetStream publish: " + pa.stream + " #" + pa.seq);

    const kv = await js.views.kv("browsercfg");
    const watch = await kv.watch({ key: "color" });
    t.watching = true;
    await kv.put("color", sc.encode("blue"));
    for await (const e of watch) {
      t.kv.push([e.key, e.operation, sc.decode(e.value)]);
      log("kv watch: " + e.key + " " + e.operation + " " + sc.decode(e.value));
      if (t.kv.length >= 2) break;
    }
  }
  await new Promise((resolve) => {
    const wait = () => (t.received.length >= 2 ? resolve() : setTimeout(wait, 20));
    wait();
  });
  await nc.close();
  log("closed");
  status.textContent = "done";
  t.done = true;
}
const target = q.get("ws");
(q.get("probe") ? probe(q.get("probe")) : run(target, q.get("full") === "1")).catch((e) => {
  t.errors.push(String(e && (e.code || e.name)) + ": " + (e && e.message));
  log("error: " + (e && e.message), "err");
  status.textContent = "failed";
});
</script>
</body></html>`;

// Serves the page and nats.ws's ES module files.
function startPageServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(PAGE);
      return;
    }
    const m = /^\/([\w.-]+\.js)$/.exec(url.pathname);
    const file = m && new URL(m[1], NATS_WS_ESM);
    if (file && existsSync(file)) {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(readFileSync(file));
      return;
    }
    res.writeHead(url.pathname === "/favicon.ico" ? 204 : 404).end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe("browser: nats.ws in headless Chromium", () => {
  const bin = chromiumBinary();
  let dir, certs, pageServer, pagePort, browser, cdp;
  let home, nssReady = false;

  before(async () => {
    if (!bin) return;
    dir = mkdtempSync(join(tmpdir(), "osprey-transport-browser-"));
    certs = generateCerts();
    home = join(dir, "home");
    mkdirSync(home, { recursive: true });
    const certutil = certutilBinary();
    if (certutil) {
      const db = join(home, ".pki", "nssdb");
      mkdirSync(db, { recursive: true });
      execFileSync(certutil, ["-d", `sql:${db}`, "-N", "--empty-password"], { stdio: "pipe", timeout: 20_000 });
      execFileSync(certutil, ["-d", `sql:${db}`, "-A", "-t", "C,,", "-n", "osprey-test-ca", "-i", certs.ca.cert],
        { stdio: "pipe", timeout: 20_000 });
      nssReady = true;
    }
    pageServer = await startPageServer();
    pagePort = pageServer.address().port;
    browser = await launchChromium(bin, join(dir, "chromium-profile"), home);
    cdp = await Cdp.connect(browser.wsUrl);
  });

  after(async () => {
    cdp?.close();
    await browser?.kill();
    if (pageServer) await new Promise((r) => pageServer.close(r));
    certs?.cleanup();
    if (dir) {
      rmSync(join(dir, "chromium-profile"), { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    }
  });

  // Opens a new tab on url; returns { sessionId, state(), context(), screenshot(name), close() }.
  async function openPage(url) {
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    for (const domain of ["Page", "Runtime", "Log"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    await cdp.send("Emulation.setDeviceMetricsOverride",
      { width: 900, height: 600, deviceScaleFactor: 1, mobile: false }, sessionId);
    const nav = await cdp.send("Page.navigate", { url }, sessionId);
    assert.ok(!nav.errorText, `navigate: ${nav.errorText}`);
    const page = {
      async state() {
        try {
          const r = await cdp.send("Runtime.evaluate",
            { expression: "JSON.stringify(window.__t ?? null)", returnByValue: true }, sessionId);
          return JSON.parse(r.result.value ?? "null");
        } catch {
          return null; // still loading
        }
      },
      async context() {
        return `; page state ${JSON.stringify(await page.state())}; page log:\n  ${cdp.log.join("\n  ")}`;
      },
      // Waits for fn(state) to be truthy; a page error fails at once.
      async until(what, fn) {
        return waitFor(async () => `${what}${await page.context()}`, async () => {
          const s = await page.state();
          if (s?.errors.length) throw new Error(`page failed: ${s.errors.join("; ")}${await page.context()}`);
          return s && fn(s) && s;
        }, WAIT_MS, 100);
      },
      async screenshot(name) {
        try {
          const shot = await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId);
          const shotDir = process.env.TRANSPORT_SCREENSHOT_DIR || dir;
          mkdirSync(shotDir, { recursive: true });
          const path = join(shotDir, name);
          writeFileSync(path, Buffer.from(shot.data, "base64"));
          console.log(`screenshot: ${path}`);
        } catch (e) {
          console.log(`no screenshot: ${e.message}`);
        }
      },
      async close() {
        await cdp.send("Target.closeTarget", { targetId }).catch(() => {});
      },
    };
    return page;
  }

  // The node side: a responder on svc.upper, a subscriber on from.browser, and a publisher to
  // browser.in once the page subscribed.
  function nodeSide(nc) {
    const fromBrowser = [];
    nc.subscribe("svc.upper", {
      callback: (_e, m) => {
        const h = headers();
        h.set("X-Responder", "node-tcp");
        m.respond(sc.encode(sc.decode(m.data).toUpperCase()), { headers: h });
      },
    });
    nc.subscribe("from.browser", {
      callback: (_e, m) => fromBrowser.push({ data: sc.decode(m.data), from: m.headers?.get("X-From") }),
    });
    return {
      fromBrowser,
      sendToPage() {
        for (const n of [1, 2]) {
          const h = headers();
          h.set("X-From", "node");
          nc.publish("browser.in", sc.encode(`to the page ${n}`), { headers: h });
        }
      },
    };
  }

  test("ws://: subscribe, publish with headers, request, JetStream fetch, KV watch; another origin is refused", async (t) => {
    if (!bin) { t.skip("no chromium binary (/usr/bin/chromium); set CHROMIUM_BIN"); return; }
    const store = join(dir, "store");
    const wsPort = await freePort();
    const cfg = writeConfig(`websocket {
  host: 127.0.0.1
  port: ${wsPort}
  no_tls: true
  allowed_origins: ["http://127.0.0.1:${pagePort}"]
}
`);
    const srv = await startServer(["-c", cfg, "-js", "-sd", store]);
    let nc, page, probe;
    try {
      await waitForPort(wsPort);
      nc = await connect({ servers: srv.url });
      const node = nodeSide(nc);
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: "BROWSER", subjects: ["browser.js.>"] });
      for (const [i, word] of ["one", "two", "three"].entries()) {
        const pa = await nc.jetstream().publish(`browser.js.${i + 1}`, sc.encode(word));
        assert.equal(pa.seq, i + 1);
      }
      await jsm.consumers.add("BROWSER", { durable_name: "page", ack_policy: "explicit" });
      await nc.flush();

      page = await openPage(`http://127.0.0.1:${pagePort}/?full=1&ws=${encodeURIComponent(`ws://127.0.0.1:${wsPort}`)}`);
      await page.until("the page to subscribe", (s) => s.subscribed);
      node.sendToPage();
      await page.until("the page's KV watch", (s) => s.watching && s.kv.length >= 1);
      // A TCP client's put reaches the browser's watch.
      const kv = await nc.jetstream().views.kv("browsercfg");
      await kv.put("color", sc.encode("green"));
      const s = await page.until("the page to finish", (s) => s.done);
      await page.screenshot("transport-browser-ws.png");

      assert.deepEqual(s.errors, []);
      assert.equal(s.info.headers, true);
      assert.equal(s.info.tls_required, null);
      assert.deepEqual(s.received, [{ data: "to the page 1", from: "node" }, { data: "to the page 2", from: "node" }]);
      await waitFor("the page's message in node", () => node.fromBrowser.length === 1, 5000);
      assert.deepEqual(node.fromBrowser, [{ data: "hello from the page", from: "chromium" }]);
      assert.deepEqual(s.reply, { data: "MAKE ME LOUD", responder: "node-tcp" });
      assert.deepEqual(s.fetched, [[1, "browser.js.1", "one"], [2, "browser.js.2", "two"], [3, "browser.js.3", "three"]]);
      assert.deepEqual(s.pubAck, { stream: "BROWSER", seq: 4 });
      assert.deepEqual(s.kv, [["color", "PUT", "blue"], ["color", "PUT", "green"]]);
      const ci = await waitFor("the page's acks", async () => {
        const ci = await jsm.consumers.info("BROWSER", "page");
        return ci.ack_floor.stream_seq === 3 && ci;
      }, 5000, 100);
      assert.equal(ci.num_ack_pending, 0);

      // The same page from another origin (localhost is not 127.0.0.1): the server refuses the
      // upgrade (403), which a browser sees as an error and close code 1006.
      probe = await openPage(`http://localhost:${pagePort}/?probe=${encodeURIComponent(`ws://127.0.0.1:${wsPort}`)}`);
      const p = await probe.until("the probe", (s) => s.done);
      await probe.screenshot("transport-browser-ws-refused-origin.png");
      assert.deepEqual(p.probe, { opened: false, errored: true, code: 1006 });
    } finally {
      await page?.close();
      await probe?.close();
      await nc?.close().catch(() => {});
      await srv.stop();
      rmSync(store, { recursive: true, force: true });
    }
  });

  test("wss://: the page connects with the test CA trusted in Chromium's NSS database", async (t) => {
    if (!bin) { t.skip("no chromium binary (/usr/bin/chromium); set CHROMIUM_BIN"); return; }
    if (!nssReady) {
      t.skip("no certutil (libnss3-tools): the test CA cannot be trusted in Chromium without --ignore-certificate-errors");
      return;
    }
    const wsPort = await freePort();
    const cfg = writeConfig(`websocket {
  host: 127.0.0.1
  port: ${wsPort}
  tls {
    cert_file: "${certs.server.cert}"
    key_file: "${certs.server.key}"
  }
}
`);
    const srv = await startServer(["-c", cfg]);
    let nc, page;
    try {
      await waitForPort(wsPort);
      nc = await connect({ servers: srv.url });
      const node = nodeSide(nc);
      await nc.flush();
      page = await openPage(`http://127.0.0.1:${pagePort}/?ws=${encodeURIComponent(`wss://127.0.0.1:${wsPort}`)}`);
      await page.until("the page to subscribe over wss", (s) => s.subscribed);
      node.sendToPage();
      const s = await page.until("the page to finish", (s) => s.done);
      await page.screenshot("transport-browser-wss.png");
      assert.deepEqual(s.errors, []);
      assert.deepEqual(s.received, [{ data: "to the page 1", from: "node" }, { data: "to the page 2", from: "node" }]);
      assert.deepEqual(s.reply, { data: "MAKE ME LOUD", responder: "node-tcp" });
      await waitFor("the page's message in node", () => node.fromBrowser.length === 1, 5000);
      assert.deepEqual(node.fromBrowser, [{ data: "hello from the page", from: "chromium" }]);
    } finally {
      await page?.close();
      await nc?.close().catch(() => {});
      await srv.stop();
    }
  });
});
