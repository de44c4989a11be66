// The browser module of consumer groups (GET /v1/groups.js) against a real osprey:
// 1. headless Chromium, driven over the DevTools protocol, loads a page from another origin
//    that imports the module from the server, joins a group over /ws and acks 5 events;
// 2. node uses the same file with the `ws` package, and the module survives a kill -9 of
//    the server: it reconnects, rejoins with the same member id and gets new events.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, StringCodec, headers } from "nats";
import WebSocket from "ws";
import { startServer, freePort, canConnect } from "../server.mjs";

const sc = StringCodec();
const MODULE_FILE = new URL("../../../../src/groups/web/groups.js", import.meta.url);
const WAIT_MS = 20_000; // the bound of every wait

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns something truthy; throws (with what() for context) after ms.
async function waitFor(what, fn, ms = WAIT_MS, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "function" ? await what() : what}`);
    }
    await sleep(every);
  }
}

// A promise that rejects after ms.
function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function api(httpPort, method, path, body) {
  const res = await bounded(fetch(`http://127.0.0.1:${httpPort}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }), WAIT_MS, `${method} ${path}`);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json };
}

async function createOrdersGroup(httpPort) {
  const r = await api(httpPort, "POST", "/v1/groups",
    { name: "order-workers", pattern: "orders.>", redeliver_delay_ms: 1000 });
  assert.equal(r.status, 201, `POST /v1/groups: ${JSON.stringify(r.json)}`);
  assert.equal(r.json.stream, "ORDERS");
}

function chromiumBinary() {
  return [process.env.CHROMIUM_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser"]
    .find((p) => p && existsSync(p));
}

// Starts headless Chromium in its own process group; resolves once it printed its DevTools URL.
async function launchChromium(bin, profileDir) {
  const proc = spawn(bin, [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check",
    "--remote-debugging-port=0", `--user-data-dir=${profileDir}`, "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"], detached: true });
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

// The page: imports the module from the server (another origin), joins, acks every event,
// and shows what it got in the DOM and in window.__groups.
function pageHtml(httpPort) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>order-workers</title>
<style>body{font:14px sans-serif;margin:20px} li.acked{color:green} li.failed{color:red}</style>
</head><body>
<h1>order-workers</h1>
<p id="status">joining...</p>
<ol id="events"></ol>
<script>window.__groups = { joined: false, memberId: null, subscriptionId: null, events: [], acked: [], errors: [] };</script>
<script type="module">
import { joinConsumerGroup } from "http://127.0.0.1:${httpPort}/v1/groups.js";
const state = window.__groups;
const status = document.getElementById("status");
const list = document.getElementById("events");
const show = () => {
  status.textContent = (state.joined ? "member " + state.memberId : "not joined") +
    ": " + state.events.length + " received, " + state.acked.length + " acked" +
    (state.errors.length ? "; errors: " + state.errors.join("; ") : "");
};
try {
  await joinConsumerGroup("ws://127.0.0.1:${httpPort}/ws", "order-workers", "orders.>", {
    onEvent(e, sub) {
      state.events.push(e);
      const li = document.createElement("li");
      li.textContent = "#" + e.eventId + " " + e.topic + " " + JSON.stringify(e.data) + " ...";
      list.append(li);
      show();
      sub.ack(e.eventId).then(() => {
        state.acked.push(e.eventId);
        li.textContent = "#" + e.eventId + " " + e.topic + " " + JSON.stringify(e.data) + " acked";
        li.className = "acked";
        show();
      }, (err) => {
        state.errors.push("ack " + e.eventId + ": " + err.code + " " + err.message);
        li.className = "failed";
        show();
      });
    },
    onError(err) { state.errors.push(err.code + ": " + err.message); show(); },
  }).then((sub) => {
    state.joined = true;
    state.memberId = sub.memberId;
    state.subscriptionId = sub.subscriptionId;
  });
} catch (err) {
  state.errors.push("join: " + err.code + ": " + err.message);
}
show();
</script>
</body></html>`;
}

test("browser: a Chromium page imports /v1/groups.js, joins over /ws and acks 5 events", async (t) => {
  const bin = chromiumBinary();
  if (!bin) {
    t.skip("no chromium binary (/usr/bin/chromium); set CHROMIUM_BIN");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "osprey-groups-browser-"));
  const storeDir = join(dir, "store");
  const profileDir = join(dir, "chromium-profile");
  let srv, nc, pageServer, browser, cdp, sessionId;
  const pageState = async () => {
    try {
      const r = await cdp.send("Runtime.evaluate",
        { expression: "JSON.stringify(window.__groups ?? null)", returnByValue: true }, sessionId);
      return JSON.parse(r.result.value ?? "null");
    } catch {
      return null; // the page is still loading
    }
  };
  const context = async () =>
    `; page state ${JSON.stringify(await pageState())}; page log:\n  ${cdp?.log.join("\n  ")}`;
  try {
    srv = await startServer(["-js", "-sd", storeDir]);
    nc = await connect({ servers: srv.url });
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await createOrdersGroup(srv.httpPort);

    // The page comes from another loopback origin than the module and the WebSocket.
    pageServer = http.createServer((req, res) => {
      if (req.url !== "/") { res.writeHead(req.url === "/favicon.ico" ? 204 : 404).end(); return; }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(pageHtml(srv.httpPort));
    });
    await new Promise((r) => pageServer.listen(0, "127.0.0.1", r));
    const pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;

    browser = await launchChromium(bin, profileDir);
    cdp = await Cdp.connect(browser.wsUrl);
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    ({ sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true }));
    for (const domain of ["Page", "Runtime", "Log"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    await cdp.send("Emulation.setDeviceMetricsOverride",
      { width: 900, height: 500, deviceScaleFactor: 1, mobile: false }, sessionId);
    const nav = await cdp.send("Page.navigate", { url: pageUrl }, sessionId);
    assert.ok(!nav.errorText, `navigate: ${nav.errorText}`);

    const joined = await waitFor(async () => `the page to join${await context()}`, async () => {
      const s = await pageState();
      if (s?.errors.length) throw new Error(`page failed: ${s.errors.join("; ")}${await context()}`);
      return s?.joined && s;
    });
    assert.ok(joined.memberId, "the page has a member id");
    assert.ok(joined.subscriptionId, "the page has a subscription id");

    // 5 events: JSON payloads, one with a header, one that is not JSON.
    const sent = [
      ["orders.eu.1", sc.encode(JSON.stringify({ n: 1 }))],
      ["orders.eu.2", sc.encode(JSON.stringify({ n: 2 }))],
      ["orders.us.3", sc.encode(JSON.stringify({ n: 3 }))],
      ["orders.us.4", sc.encode(JSON.stringify({ n: 4 }))],
      ["orders.ap.5", sc.encode("plain text")],
    ];
    const h = headers();
    h.set("X-Trace", "t-1");
    for (const [i, [subject, data]] of sent.entries()) {
      const pa = await js.publish(subject, data, i === 1 ? { headers: h } : {});
      assert.equal(pa.seq, i + 1);
    }

    const done = await waitFor(async () => `5 acked events in the page${await context()}`, async () => {
      const s = await pageState();
      if (s?.errors.length) throw new Error(`page failed: ${s.errors.join("; ")}${await context()}`);
      return s?.acked.length >= 5 && s;
    });
    assert.deepEqual([...done.acked].sort(), ["1", "2", "3", "4", "5"]);
    const events = [...done.events].sort((a, b) => Number(a.eventId) - Number(b.eventId));
    assert.equal(events.length, 5, "each event delivered once");
    for (const [i, e] of events.entries()) {
      assert.equal(e.type, "event");
      assert.equal(e.eventId, String(i + 1));
      assert.equal(e.topic, sent[i][0]);
      assert.equal(e.subscriptionId, joined.subscriptionId);
      assert.equal(e.deliveryAttempt, 1);
      assert.equal(e.meta?.sequence, i + 1);
      assert.ok(e.meta?.timestamp, "meta.timestamp");
    }
    assert.deepEqual(events[0].data, { n: 1 });
    assert.deepEqual(events[1].headers, { "X-Trace": "t-1" });
    assert.equal(events[4].data, "plain text");
    assert.equal(events[4].dataBase64, Buffer.from("plain text").toString("base64"));

    // The server's view: nothing pending, the page is a ws member, the durable's ack floor is 5.
    const g = await api(srv.httpPort, "GET", "/v1/groups/order-workers");
    assert.equal(g.status, 200, JSON.stringify(g.json));
    assert.equal(g.json.num_ack_pending, 0, JSON.stringify(g.json));
    assert.equal(g.json.num_pending, 0, JSON.stringify(g.json));
    const member = g.json.members.find((m) => m.id === joined.memberId);
    assert.ok(member, `member ${joined.memberId} listed: ${JSON.stringify(g.json.members)}`);
    assert.equal(member.transport, "ws");
    assert.equal(member.inflight, 0);
    const ci = await jsm.consumers.info("ORDERS", "order-workers");
    assert.equal(ci.ack_floor.stream_seq, 5);
    assert.equal(ci.num_ack_pending, 0);
  } finally {
    if (cdp && sessionId) {
      try {
        const shot = await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId);
        const shotDir = process.env.GROUPS_SCREENSHOT_DIR || dir;
        mkdirSync(shotDir, { recursive: true });
        const path = join(shotDir, "groups-browser.png");
        writeFileSync(path, Buffer.from(shot.data, "base64"));
        console.log(`screenshot: ${path}`);
      } catch (e) {
        console.log(`no screenshot: ${e.message}`);
      }
    }
    cdp?.close();
    await browser?.kill();
    if (pageServer) await new Promise((r) => pageServer.close(r));
    await nc?.close().catch(() => {});
    await srv?.kill();
    // The screenshot, if it went to dir, stays.
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
  }
});

// osprey on fixed ports (a restart must come back on the same ones) with a store dir.
async function startFixed(port, httpPort, storeDir) {
  const bin = process.env.OSPREY_BIN;
  if (!bin) throw new Error("OSPREY_BIN is not set");
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const proc = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-m", String(httpPort),
      "-js", "-sd", storeDir], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proc.stderr.on("data", (d) => { log += d.toString(); });
    const exited = new Promise((r) => proc.on("exit", r));
    while (proc.exitCode === null && Date.now() < deadline &&
           !((await canConnect(port)) && (await canConnect(httpPort)))) {
      await sleep(20);
    }
    if (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) {
      return {
        pid: proc.pid,
        log: () => log,
        async kill() {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill("SIGKILL");
          await bounded(exited, 5000, "osprey exit");
        },
      };
    }
    proc.kill("SIGKILL");
    // The old process's ports may take a moment to be free again.
    if (Date.now() < deadline && /address already in use/i.test(log)) { await sleep(250); continue; }
    throw new Error(`osprey did not start on ${port}/${httpPort}: ${log}`);
  }
}

test("node: the module (with the ws package) acks, naks, and rejoins after kill -9 with the same member id", async () => {
  const { joinConsumerGroup } = await import(MODULE_FILE.href);
  const dir = mkdtempSync(join(tmpdir(), "osprey-groups-node-"));
  const port = await freePort();
  const httpPort = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  let srv, nc, sub;
  const events = [];
  const errors = [];
  const eventNamed = (id, attempt = 1) => waitFor(
    () => `event ${id} (attempt ${attempt}); got ${JSON.stringify(events.map((e) => [e.eventId, e.deliveryAttempt]))}, errors ${JSON.stringify(errors)}`,
    () => events.find((e) => e.eventId === id && e.deliveryAttempt === attempt));
  try {
    srv = await startFixed(port, httpPort, dir);
    nc = await connect({ servers: url });
    await (await nc.jetstreamManager()).streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    await createOrdersGroup(httpPort);

    // An http:// base URL: the module turns it into ws://127.0.0.1:<httpPort>/ws.
    sub = await joinConsumerGroup(`http://127.0.0.1:${httpPort}`, "order-workers", "orders.>", {
      WebSocket,
      onEvent: (e) => events.push(e),
      onError: (err) => errors.push(`${err.code}: ${err.message}`),
    });
    const memberId = sub.memberId;
    assert.ok(memberId, "the server gave a member id");
    assert.ok(sub.subscriptionId, "the server gave a subscription id");

    // ack
    await nc.jetstream().publish("orders.eu.1", sc.encode(JSON.stringify({ n: 1 })));
    const e1 = await eventNamed("1");
    assert.equal(e1.topic, "orders.eu.1");
    assert.deepEqual(e1.data, { n: 1 });
    await sub.ack("1");
    // nak (now): the same event again, attempt 2; then ack
    await nc.jetstream().publish("orders.eu.2", sc.encode(JSON.stringify({ n: 2 })));
    await eventNamed("2");
    await sub.nak("2", 0);
    await eventNamed("2", 2);
    await sub.ack("2");
    // an event that is not pending: the ack_result error rejects with its code
    await assert.rejects(sub.ack("999"), (err) => err.code === "not_found");

    let g = await api(httpPort, "GET", "/v1/groups/order-workers");
    assert.deepEqual(g.json.members.map((m) => [m.id, m.transport]), [[memberId, "ws"]]);

    // kill -9: the module notices, acks reject at once while it is away.
    await nc.close();
    nc = null;
    await srv.kill();
    await waitFor("the module to notice the disconnect", () => !sub.connected);
    const t0 = Date.now();
    await assert.rejects(sub.ack("2"), (err) => err.code === "unavailable");
    assert.ok(Date.now() - t0 < 1000, "an ack while disconnected rejects at once");

    // Same ports, same store: the module rejoins by itself with the same member id.
    srv = await startFixed(port, httpPort, dir);
    await waitFor(() => `the module to rejoin; errors ${JSON.stringify(errors)}`, () => sub.connected);
    assert.equal(sub.memberId, memberId);
    g = await api(httpPort, "GET", "/v1/groups/order-workers");
    assert.equal(g.status, 200, JSON.stringify(g.json));
    assert.deepEqual(g.json.members.map((m) => [m.id, m.transport]), [[memberId, "ws"]]);

    const before = events.length;
    nc = await connect({ servers: url });
    const pa = await nc.jetstream().publish("orders.us.3", sc.encode("after restart"));
    assert.equal(pa.seq, 3);
    const e3 = await eventNamed("3");
    assert.equal(e3.data, "after restart");
    assert.equal(e3.subscriptionId, sub.subscriptionId);
    await sub.ack("3");
    assert.deepEqual(events.slice(before).map((e) => e.eventId), ["3"],
      "nothing acked before the crash comes again");
    const ci = await (await nc.jetstreamManager()).consumers.info("ORDERS", "order-workers");
    assert.equal(ci.ack_floor.stream_seq, 3);
    assert.equal(ci.num_ack_pending, 0);

    // close(): unsubscribes (the member leaves) and does not come back.
    await sub.close();
    await waitFor("the member to leave the group", async () =>
      (await api(httpPort, "GET", "/v1/groups/order-workers")).json.members.length === 0, 5000);
    await sleep(1500); // longer than the first reconnect delay
    g = await api(httpPort, "GET", "/v1/groups/order-workers");
    assert.deepEqual(g.json.members, [], "no reconnect after close()");
    assert.equal(sub.connected, false);
    assert.deepEqual(errors, []);
  } finally {
    await sub?.close();
    await nc?.close().catch(() => {});
    await srv?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
