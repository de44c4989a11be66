// Differential security suite: every case runs the same config and the same raw-protocol
// scenario against osprey and against nats-server 2.9.10, and compares what each client saw
// (CONNECT accepted?, -ERR texts, MSG/HMSG delivered, connection closed?, request replies).
//
//   BYPASS   = osprey delivers or accepts something that nats-server refuses
//              (a config nats-server refuses, a CONNECT, a message, a publish/subscribe
//              nats-server answers with -ERR, a JetStream request nats-server rejects).
//   MISMATCH = any other difference (error texts, osprey refusing what nats-server accepts).
//
// The file starts both servers itself (one pair per config, batches run in parallel) and is
// skipped when OSPREY_BIN points at nats-server (the differential run of the js suites).
// Debug: AUTH_DIFF_ONLY=<regex on "batch/case"> restricts the cases, AUTH_DIFF_DUMP=1 prints
// both observations of every case (AUTH_DIFF_DUMP=<file> appends them to that file).
// Self-check of the suite: OSPREY_BIN=<a symlink named osprey-something to nats-server> runs
// nats-server against itself; nothing may then differ.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, existsSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, basename } from "node:path";
import { freePort, canConnect } from "./server.mjs";

const NATS_SERVER = "/usr/sbin/nats-server";
const DEFAULT_OSPREY = new URL("../../../build/apps/osprey/osprey", import.meta.url).pathname;
const envBin = process.env.OSPREY_BIN || "";
const SKIP = envBin !== "" && basename(envBin).startsWith("nats-server");
const OSPREY = envBin && basename(envBin).startsWith("osprey") ? envBin : DEFAULT_OSPREY;
const ONLY = process.env.AUTH_DIFF_ONLY ? new RegExp(process.env.AUTH_DIFF_ONLY) : null;
const DUMP = process.env.AUTH_DIFF_DUMP || ""; // "1": print, else a file to append to
const PARALLEL = 6; // config batches run at the same time (each with its own server pair)

const QUIET = 350; // ms: how long "nothing arrives" is waited for
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Servers

// Starts bin with the config (the text "@STORE@" becomes a fresh JetStream store directory).
// Resolves to {refused: true, code, log} when the process exits before listening.
const LIVE = new Set(); // every spawned server process, killed on the way out whatever happens
process.on("exit", () => { for (const p of LIVE) { try { p.kill("SIGKILL"); } catch { /* gone */ } } });

// Spawns bin; retries while the binary is being rebuilt (EACCES/ETXTBSY/ENOENT for a moment).
async function spawnServer(bin, args) {
  for (let attempt = 0; ; attempt++) {
    const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const err = await new Promise((r) => {
      proc.once("spawn", () => r(null));
      proc.once("error", (e) => r(e));
    });
    if (!err) { LIVE.add(proc); proc.on("exit", () => LIVE.delete(proc)); return proc; }
    if (attempt >= 20 || !["EACCES", "ETXTBSY", "ENOENT"].includes(err.code)) throw err;
    await sleep(1000);
  }
}

async function startServer(bin, configText) {
  const dir = mkdtempSync(join(tmpdir(), "osprey-authdiff-"));
  const cfg = join(dir, "server.conf");
  writeFileSync(cfg, configText.replaceAll("@STORE@", join(dir, "js")));
  const port = await freePort();
  const proc = await spawnServer(bin, ["-c", cfg, "-a", "127.0.0.1", "-p", String(port)]);
  let log = "";
  proc.stdout.on("data", (d) => { log += d.toString(); });
  proc.stderr.on("data", (d) => { log += d.toString(); });
  let exitCode = proc.exitCode;
  const exited = exitCode !== null ? Promise.resolve() : new Promise((r) => proc.on("exit", (code, sig) => { exitCode = code ?? sig; r(); }));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const deadline = Date.now() + 6000;
  for (;;) {
    if (exitCode !== null) { await sleep(20); cleanup(); return { refused: true, code: exitCode, log }; }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      await exited;
      cleanup();
      return { refused: true, code: "timeout", log };
    }
    await sleep(15);
  }
  return {
    refused: false,
    port,
    log: () => log,
    async stop() {
      if (exitCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(t);
      }
      cleanup();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A raw NATS protocol client: every byte sent is written here, everything received is recorded.

class Raw {
  constructor(port, name) {
    this.port = port;
    this.name = name;
    this.events = []; // {t: "info"|"err"|"ok"|"msg"|"pong"|"other", ...}
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.waiters = [];
    this.info = null;
    this.pongs = 0;
    this.accepted = null;
    this.nextSid = 1;
    this.hidden = new Set(); // sids of request inboxes: their replies are recorded as notes
  }

  open() {
    return new Promise((resolve) => {
      this.sock = net.connect(this.port, "127.0.0.1");
      this.sock.on("connect", () => resolve(true));
      this.sock.on("data", (d) => this.onData(d));
      const onEnd = () => { if (!this.closed) { this.closed = true; this.wake(); } };
      this.sock.on("close", onEnd);
      this.sock.on("end", onEnd);
      this.sock.on("error", () => { onEnd(); resolve(false); });
    });
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const eol = this.buf.indexOf("\r\n");
      if (eol < 0) break;
      const line = this.buf.subarray(0, eol).toString("latin1");
      const m = /^(MSG|HMSG)\s/i.exec(line);
      if (m) {
        const a = line.split(/[ \t]+/);
        const hmsg = a[0].toUpperCase() === "HMSG";
        let subj, sid, reply = "", hdr = 0, total;
        if (hmsg) {
          [subj, sid] = [a[1], a[2]];
          if (a.length === 6) { reply = a[3]; hdr = +a[4]; total = +a[5]; } else { hdr = +a[3]; total = +a[4]; }
        } else {
          [subj, sid] = [a[1], a[2]];
          if (a.length === 5) { reply = a[3]; total = +a[4]; } else { total = +a[3]; }
        }
        if (this.buf.length < eol + 2 + total + 2) break;
        const body = this.buf.subarray(eol + 2, eol + 2 + total);
        this.buf = this.buf.subarray(eol + 2 + total + 2);
        this.events.push({
          t: "msg", subj, sid, reply,
          hdr: hmsg ? body.subarray(0, hdr).toString("latin1") : null,
          data: body.subarray(hdr).toString("latin1"),
        });
        continue;
      }
      this.buf = this.buf.subarray(eol + 2);
      if (/^INFO\s/i.test(line)) {
        let info = null;
        try { info = JSON.parse(line.slice(5)); } catch { /* recorded as is */ }
        if (!this.info) this.info = info;
        this.events.push({ t: "info", info });
      } else if (/^PING$/i.test(line)) {
        this.write("PONG\r\n");
      } else if (/^PONG$/i.test(line)) {
        this.pongs++;
        this.events.push({ t: "pong" });
      } else if (/^\+OK$/i.test(line)) {
        this.events.push({ t: "ok" });
      } else if (/^-ERR/i.test(line)) {
        this.events.push({ t: "err", text: line.slice(4).trim() });
      } else {
        this.events.push({ t: "other", line });
      }
    }
    this.wake();
  }

  // Resolves true as soon as pred() holds, false after ms or when the connection closes.
  waitFor(pred, ms) {
    return new Promise((resolve) => {
      const deadline = Date.now() + ms;
      let done = false;
      const finish = (v) => { if (!done) { done = true; clearTimeout(timer); resolve(v); } };
      const check = () => {
        if (done) return;
        if (pred()) return finish(true);
        if (this.closed || Date.now() >= deadline) return finish(false);
        this.waiters.push(check);
      };
      const timer = setTimeout(() => finish(!!pred()), ms);
      check();
    });
  }

  write(s) {
    if (this.closed) return false;
    try { this.sock.write(typeof s === "string" ? Buffer.from(s, "latin1") : s); } catch { return false; }
    return true;
  }

  // CONNECT (after INFO) followed by PING; accepted = PONG came back.
  async connect(opts = {}) {
    await this.waitFor(() => this.info !== null, 1500);
    const c = {
      verbose: false, pedantic: false, tls_required: false, name: this.name, lang: "raw",
      version: "0.0.1", protocol: 1, headers: true, no_responders: true, echo: true,
    };
    if (opts.user !== undefined) c.user = opts.user;
    if (opts.pass !== undefined) c.pass = opts.pass;
    if (opts.token !== undefined) c.auth_token = opts.token;
    Object.assign(c, opts.extra || {});
    const line = opts.raw !== undefined ? opts.raw : `CONNECT ${JSON.stringify(c)}`;
    this.write(`${line}\r\nPING\r\n`);
    const before = this.pongs;
    await this.waitFor(() => this.pongs > before, 1000);
    this.accepted = this.pongs > before;
    return this.accepted;
  }

  async flush(ms = 1000) {
    const before = this.pongs;
    if (!this.write("PING\r\n")) return false;
    return this.waitFor(() => this.pongs > before, ms);
  }

  sub(subject, queue, sid) {
    sid = sid ?? String(this.nextSid++);
    this.write(queue ? `SUB ${subject} ${queue} ${sid}\r\n` : `SUB ${subject} ${sid}\r\n`);
    return sid;
  }
  unsub(sid, max) { this.write(max !== undefined ? `UNSUB ${sid} ${max}\r\n` : `UNSUB ${sid}\r\n`); }
  pub(subject, data = "", reply) {
    const b = Buffer.from(data, "latin1");
    this.write(Buffer.concat([
      Buffer.from(reply ? `PUB ${subject} ${reply} ${b.length}\r\n` : `PUB ${subject} ${b.length}\r\n`, "latin1"),
      b, Buffer.from("\r\n"),
    ]));
  }
  hpub(subject, headers, data = "", reply) {
    const h = Buffer.from(headers, "latin1");
    const b = Buffer.from(data, "latin1");
    const size = `${h.length} ${h.length + b.length}`;
    this.write(Buffer.concat([
      Buffer.from(reply ? `HPUB ${subject} ${reply} ${size}\r\n` : `HPUB ${subject} ${size}\r\n`, "latin1"),
      h, b, Buffer.from("\r\n"),
    ]));
  }

  // Writes first; if the server neither answers -ERR nor closes within ms, writes rest. So that
  // bytes the server never reads do not turn its close into a reset that loses the -ERR.
  async writeThen(first, rest, ms = 400) {
    const errs = this.errs().length;
    this.write(first);
    await this.waitFor(() => this.errs().length > errs, ms);
    if (!this.closed && this.errs().length === errs) this.write(rest);
  }

  msgs(sid) { return this.events.filter((e) => e.t === "msg" && (sid === undefined || e.sid === sid)); }
  errs() { return this.events.filter((e) => e.t === "err").map((e) => e.text); }

  // A request with its own inbox subscription; resolves to the first reply or null.
  async request(subject, data = "", ms = 1500, headers) {
    const inbox = `_INBOX.raw${Math.random().toString(36).slice(2, 10)}`;
    const sid = this.sub(inbox);
    this.hidden.add(sid);
    if (headers) this.hpub(subject, headers, data, inbox); else this.pub(subject, data, inbox);
    await this.waitFor(() => this.msgs(sid).length > 0, ms);
    const m = this.msgs(sid)[0] || null;
    this.unsub(sid);
    return m;
  }

  close() {
    try { this.sock.destroy(); } catch { /* gone */ }
  }
}

// Normalized record of what a client saw.
function observeClient(c) {
  const msgs = c.events.filter((e) => e.t === "msg" && !c.hidden.has(e.sid)).map((e) => {
    let reply = e.reply;
    if (/^_R_\./.test(reply)) reply = "_R_.<mapped>";
    if (/^_INBOX\.raw/.test(reply)) reply = "<inbox>";
    if (/^\$JS\.ACK\./.test(reply)) reply = "$JS.ACK.<...>";
    let hdr = e.hdr;
    if (hdr !== null) {
      hdr = hdr.split("\r\n").filter((l) => l && !/^Nats-Time-Stamp:/i.test(l)).join("|").replace(/"rtt":\d+/g, '"rtt":N');
    }
    return `${e.subj} sid=${e.sid}${reply ? " reply=" + reply : ""}${hdr !== null ? " hdr=" + hdr : ""} data=${JSON.stringify(e.data.length > 80 ? e.data.slice(0, 80) + "..." : e.data)}`;
  });
  msgs.sort();
  const o = { accepted: c.accepted, errs: c.errs(), msgs, closed: c.closed };
  const others = c.events.filter((e) => e.t === "other").map((e) => e.line);
  if (others.length) o.other = others;
  const oks = c.events.filter((e) => e.t === "ok").length;
  if (oks) o.oks = oks;
  return o;
}

// JetStream API reply digest: "ERR code/err_code description", "OK <picked fields>", "none".
function jsDigest(m, pick = []) {
  if (!m) return "none";
  if (m.hdr && /^NATS\/1\.0 503/.test(m.hdr)) return "no responders (503)";
  let j;
  try { j = JSON.parse(m.data); } catch { return "raw " + m.data.slice(0, 120); }
  if (j.error) return `ERR ${j.error.code}/${j.error.err_code} ${j.error.description}`;
  if (j.stream !== undefined && j.seq !== undefined && !j.type) return `PUBACK stream=${j.stream} seq=${j.seq}`;
  const parts = pick.map((p) => `${p}=${JSON.stringify(p.split(".").reduce((o, k) => (o == null ? o : o[k]), j))}`);
  return ["OK", ...parts].join(" ");
}

// DIRECT.GET reply digest: "status NNN text", "message <data>" or "none".
function directDigest(m) {
  if (!m) return "none";
  const st = /^NATS\/1\.0 (\d{3})(.*)/.exec(m.hdr || "");
  if (st) return `status ${st[1]}${st[2]}`;
  return "message " + JSON.stringify(m.data);
}

// A reply digest for a core request: payload, no responders or none.
function replyDigest(m) {
  if (!m) return "none";
  if (m.hdr && /^NATS\/1\.0 503/.test(m.hdr)) return "no responders (503)";
  return "reply " + JSON.stringify(m.data.length > 60 ? m.data.slice(0, 60) + "..." : m.data);
}

// The per-case context handed to a scenario.
class Ctx {
  constructor(srv) { this.srv = srv; this.clients = []; this.extra = {}; }
  // Opens a raw client; unless connect === false, sends CONNECT with the given credentials.
  async client(name, opts = {}) {
    const c = new Raw(this.srv.port, name);
    this.clients.push(c);
    await c.open();
    if (opts.connect !== false) await c.connect(opts);
    else await c.waitFor(() => c.info !== null, 1500);
    return c;
  }
  note(key, value) { this.extra[key] = value; }
  // Lets the servers deliver: flush every client, wait, flush again.
  async settle(ms = QUIET) {
    await sleep(30); // an -ERR and close in flight arrive before our PING could meet a reset
    await Promise.all(this.clients.map((c) => c.flush()));
    await sleep(ms);
    await Promise.all(this.clients.map((c) => c.flush()));
  }
  observe() {
    const o = {};
    for (const c of this.clients) o[c.name] = observeClient(c);
    if (Object.keys(this.extra).length) o.extra = this.extra;
    return o;
  }
  closeAll() { for (const c of this.clients) c.close(); }
}

// ---------------------------------------------------------------------------------------------
// Classification

// Note values that mean "refused": anything else nats-server says to a request osprey refuses is
// a MISMATCH, anything osprey grants where nats-server refuses is a BYPASS.
const REFUSAL = /^(none|no responders|ERR |status [45]\d\d|refused|timeout|closed|false)/;

function multisetMinus(a, b) {
  const left = [...b];
  const out = [];
  for (const x of a) {
    const i = left.indexOf(x);
    if (i >= 0) left.splice(i, 1); else out.push(x);
  }
  return out;
}

// Returns {kind: "OK"|"BYPASS"|"MISMATCH", why: [...]}
function classify(nats, osp) {
  const why = [];
  let bypass = false;
  const ns = JSON.stringify(nats), os = JSON.stringify(osp);
  if (ns === os) return { kind: "OK", why };
  for (const name of new Set([...Object.keys(nats), ...Object.keys(osp)])) {
    if (name === "extra") continue;
    const n = nats[name], o = osp[name];
    if (!n || !o) { why.push(`${name}: missing on one side`); continue; }
    if (n.accepted === false && o.accepted === true) { bypass = true; why.push(`${name}: CONNECT accepted by osprey, refused by nats-server`); }
    // A message is the same message whatever its headers; header differences are reported apart.
    const key = (m) => m.replace(/ hdr=.* data=/, " data=");
    const nk = n.msgs.map(key), ok = o.msgs.map(key);
    const extraMsgs = multisetMinus(ok, nk);
    if (extraMsgs.length) { bypass = true; why.push(`${name}: osprey delivered extra ${JSON.stringify(extraMsgs)}`); }
    const missingMsgs = multisetMinus(nk, ok);
    if (missingMsgs.length) why.push(`${name}: osprey did not deliver ${JSON.stringify(missingMsgs)}`);
    if (!extraMsgs.length && !missingMsgs.length) {
      const hd = multisetMinus(n.msgs, o.msgs);
      if (hd.length) why.push(`${name}: headers differ: nats-server ${JSON.stringify(hd)} osprey ${JSON.stringify(multisetMinus(o.msgs, n.msgs))}`);
    }
    if (n.errs.length && !o.errs.length) { bypass = true; why.push(`${name}: nats-server -ERR ${JSON.stringify(n.errs)}, osprey none`); }
    else if (JSON.stringify(n.errs) !== JSON.stringify(o.errs)) why.push(`${name}: -ERR nats-server ${JSON.stringify(n.errs)} osprey ${JSON.stringify(o.errs)}`);
    if (n.closed && !o.closed) { bypass = true; why.push(`${name}: nats-server closed the connection, osprey kept it open`); }
    else if (!n.closed && o.closed) why.push(`${name}: osprey closed the connection, nats-server kept it open`);
    if (n.accepted !== o.accepted && !(n.accepted === false && o.accepted === true)) why.push(`${name}: accepted nats-server=${n.accepted} osprey=${o.accepted}`);
    if (JSON.stringify(n.other) !== JSON.stringify(o.other)) why.push(`${name}: other lines nats-server ${JSON.stringify(n.other)} osprey ${JSON.stringify(o.other)}`);
    if (n.oks !== o.oks) why.push(`${name}: +OK count nats-server ${n.oks ?? 0} osprey ${o.oks ?? 0}`);
  }
  const ne = nats.extra || {}, oe = osp.extra || {};
  for (const k of new Set([...Object.keys(ne), ...Object.keys(oe)])) {
    const nv = String(ne[k]), ov = String(oe[k]);
    if (nv === ov) continue;
    if (REFUSAL.test(nv) && !REFUSAL.test(ov)) { bypass = true; why.push(`${k}: nats-server ${nv} | osprey ${ov}`); }
    else why.push(`${k}: nats-server ${nv} | osprey ${ov}`);
  }
  if (!why.length) why.push(`observations differ: nats-server ${ns} osprey ${os}`);
  return { kind: bypass ? "BYPASS" : "MISMATCH", why };
}

// ---------------------------------------------------------------------------------------------
// Running a batch: one config, one server pair, its cases in order (each on both servers at
// the same time).

async function runScenario(srv, c) {
  const ctx = new Ctx(srv);
  let timer;
  try {
    await Promise.race([
      c.run(ctx),
      new Promise((r) => { timer = setTimeout(() => { ctx.note("scenario", "timed out"); r(); }, c.timeout ?? 8000); }),
    ]);
  } catch (e) {
    ctx.note("scenario", "threw " + e.message);
  } finally {
    clearTimeout(timer);
  }
  const o = ctx.observe();
  ctx.closeAll();
  return o;
}

function firstLine(log) {
  const lines = String(log).split("\n").map((l) => l.trim()).filter(Boolean);
  const l = lines.find((x) => /err|invalid|not|unknown|unsupported|refus|fail/i.test(x)) || lines[0] || "";
  return l.length > 160 ? l.slice(0, 160) + "..." : l;
}

async function runBatch(b, results) {
  const cases = (b.cases || []).filter((c) => !ONLY || ONLY.test(`${b.name}/${c.name}`));
  const startOnly = !b.cases || b.cases.length === 0;
  if (!startOnly && cases.length === 0) return;
  if (startOnly && ONLY && !ONLY.test(`${b.name}/config`)) return;
  const [nats, osp] = await Promise.all([startServer(NATS_SERVER, b.config), startServer(OSPREY, b.config)]);
  try {
    const nStart = nats.refused ? `refused (exit ${nats.code}: ${firstLine(nats.log)})` : "started";
    const oStart = osp.refused ? `refused (exit ${osp.code}: ${firstLine(osp.log)})` : "started";
    const row = { batch: b.name, name: "config", essence: b.essence || "", nats: nStart, osprey: oStart };
    if (nats.refused !== osp.refused) {
      row.kind = nats.refused ? "BYPASS" : "MISMATCH";
      row.why = [nats.refused ? `config refused by nats-server (${nStart}), osprey started` : `config accepted by nats-server, osprey ${oStart}`];
      results.push(row);
      for (const c of cases) {
        // For the record: what osprey does with the config nats-server would not load.
        const info = nats.refused ? ["config differs; osprey alone saw " + JSON.stringify(await runScenario(osp, c))] : ["config differs"];
        results.push({ batch: b.name, name: c.name, kind: "NOT RUN", why: info });
      }
      return;
    }
    if (startOnly || nats.refused) {
      row.kind = "OK";
      row.why = [];
      if (nats.refused && !startOnly) row.why.push("both refused the config, cases not run");
      results.push(row);
      if (!startOnly) for (const c of cases) results.push({ batch: b.name, name: c.name, kind: "NOT RUN", why: ["both refused config"] });
      return;
    }
    for (const c of cases) {
      const [no, oo] = await Promise.all([runScenario(nats, c), runScenario(osp, c)]);
      const r = classify(no, oo);
      results.push({ batch: b.name, name: c.name, essence: c.essence || b.essence || "", kind: r.kind, why: r.why, nats: no, osprey: oo });
      if (DUMP) {
        const text = `### ${b.name}/${c.name} [${r.kind}]\n  nats-server: ${JSON.stringify(no)}\n  osprey:      ${JSON.stringify(oo)}\n`;
        if (DUMP === "1") console.log(text); else appendFileSync(DUMP, text);
      }
    }
  } finally {
    if (!nats.refused) await nats.stop();
    if (!osp.refused) await osp.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers for scenarios

// Subscriber "sub" on subjects, publisher publishes, settle.
async function subPub(ctx, subOpts, pubOpts, subjects, pubs, { queue } = {}) {
  const s = await ctx.client("sub", subOpts);
  for (const subj of subjects) s.sub(subj, queue);
  await s.flush();
  const p = await ctx.client("pub", pubOpts);
  for (const [subj, data] of pubs) p.pub(subj, data ?? subj);
  await ctx.settle();
}

// ---------------------------------------------------------------------------------------------
// Cases. Each batch: a config (one server pair) and scenarios run in order against it.

const A = (user, pass) => ({ user, pass });

// The subject-validity probes: [case name, raw subject as written on the wire].
const BAD_PUB_SUBJECTS = [
  ["empty-middle-token", "foo..bar"],
  ["leading-dot", ".foo"],
  ["trailing-dot", "foo."],
  ["single-dot", "."],
  ["double-dot", ".."],
];

function noAuthCases() {
  const cases = [];
  cases.push({ name: "plain-connect-pub-sub", run: async (ctx) => {
    await subPub(ctx, {}, {}, ["foo", "foo.*", ">"], [["foo"], ["foo.bar"]]);
  } });
  cases.push({ name: "credentials-sent-without-auth-configured", run: async (ctx) => {
    await ctx.client("userpass", A("x", "y"));
    await ctx.client("token", { token: "t" });
    await ctx.settle(50);
  } });
  for (const [n, subj] of BAD_PUB_SUBJECTS) {
    cases.push({ name: `pub-invalid-subject-${n}`, run: async (ctx) => {
      await subPub(ctx, {}, {}, [">", "foo.>", "*"], [[subj, "x"], ["ok.after", "y"]]);
    } });
    cases.push({ name: `pub-invalid-subject-${n}-pedantic`, run: async (ctx) => {
      await subPub(ctx, {}, { extra: { pedantic: true } }, [">"], [[subj, "x"], ["ok.after", "y"]]);
    } });
  }
  cases.push({ name: "pub-invalid-reply-subject", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("rq");
    await s.flush();
    const p = await ctx.client("pub");
    p.pub("rq", "a", "bad..reply"); p.pub("rq", "b", "wild.*"); p.pub("rq", "c", ".lead");
    await ctx.settle();
  } });
  cases.push({ name: "connect-without-pedantic-field", run: async (ctx) => {
    // nats-server's CONNECT defaults are verbose and pedantic: a client that omits them gets both.
    const s = await ctx.client("sub");
    s.sub(">");
    await s.flush();
    const c = await ctx.client("c", { raw: 'CONNECT {"lang":"raw"}' });
    c.pub("foo..bar", "x"); c.pub("ok.subj", "y");
    await ctx.settle();
  } });
  cases.push({ name: "pub-wildcard-subject", run: async (ctx) => {
    await subPub(ctx, {}, {}, ["foo.*", "foo.bar", "foo.>"], [["foo.*", "star"], ["foo.>", "gt"]]);
  } });
  cases.push({ name: "pub-wildcard-subject-pedantic", run: async (ctx) => {
    await subPub(ctx, {}, { extra: { pedantic: true } }, ["foo.*", "foo.>"], [["foo.*", "star"], ["foo.>", "gt"]]);
  } });
  cases.push({ name: "pub-tab-separated", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.write("SUB\tfoo.tab\t1\r\n");
    await s.flush();
    const p = await ctx.client("pub");
    p.write("PUB\tfoo.tab\t3\r\nabc\r\n");
    p.write("PUB foo.tab  \t 3\r\ndef\r\n");
    await ctx.settle();
  } });
  for (const [n, subj] of [["empty-token", "foo..bar"], ["leading-dot", ".foo"], ["trailing-dot", "foo."],
    ["gt-not-last", "foo.>.bar"], ["gt-first", ">.foo"], ["single-dot", "."]]) {
    cases.push({ name: `sub-invalid-subject-${n}`, run: async (ctx) => {
      const s = await ctx.client("sub");
      s.sub(subj, undefined, "1");
      s.sub("after.ok", undefined, "2");
      await s.flush();
      const p = await ctx.client("pub");
      p.pub("after.ok", "y");
      p.pub("foo.x.bar", "z");
      await ctx.settle();
    } });
  }
  for (const [n, q] of [["wildcard-star", "q.*"], ["wildcard-gt", ">"], ["dotted", "a.b"]]) {
    cases.push({ name: `sub-queue-name-${n}`, run: async (ctx) => {
      const s = await ctx.client("sub");
      s.sub("qsubj", q, "1");
      await s.flush();
      const p = await ctx.client("pub");
      p.pub("qsubj", "y");
      await ctx.settle();
    } });
  }
  cases.push({ name: "unknown-op", run: async (ctx) => {
    const c = await ctx.client("c");
    c.write("FOO bar\r\n");
    await ctx.settle(150);
  } });
  for (const [n, raw] of [["size-not-number", "PUB foo x\r\n"], ["size-negative", "PUB foo -1\r\n"],
    ["size-missing", "PUB foo\r\n"], ["no-args", "PUB\r\n"], ["payload-longer-than-size", "PUB foo 2\r\nabcd\r\n"],
    ["too-many-args", "PUB foo a b 3\r\nabc\r\n"],
    ["hpub-hdr-gt-total", "HPUB foo 10 5\r\nNATS/1.0\r\n\r\n\r\n"], ["hpub-bad-size", "HPUB foo x y\r\n"],
    ["sub-no-sid", "SUB foo\r\n"], ["unsub-no-sid", "UNSUB\r\n"]]) {
    cases.push({ name: `bad-proto-${n}`, run: async (ctx) => {
      const s = await ctx.client("sub");
      s.sub(">");
      await s.flush();
      const c = await ctx.client("c");
      c.write(raw);
      await ctx.settle(150);
    } });
  }
  cases.push({ name: "hpub-without-headers-in-connect", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("h.>");
    await s.flush();
    const c = await ctx.client("c", { extra: { headers: false, no_responders: false } });
    c.hpub("h.1", "NATS/1.0\r\nA: b\r\n\r\n", "x");
    await ctx.settle();
  } });
  cases.push({ name: "connect-invalid-json", run: async (ctx) => {
    await ctx.client("c", { raw: "CONNECT {bad json" });
    await ctx.settle(150);
  } });
  cases.push({ name: "ops-before-connect-no-auth", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("early");
    await s.flush();
    const c = await ctx.client("c", { connect: false });
    c.write("SUB early 9\r\nPUB early 2\r\nhi\r\nPING\r\n");
    await ctx.settle();
  } });
  cases.push({ name: "echo-false", run: async (ctx) => {
    const c = await ctx.client("c", { extra: { echo: false } });
    c.sub("self");
    c.pub("self", "x");
    await ctx.settle();
  } });
  cases.push({ name: "auto-unsubscribe-max", run: async (ctx) => {
    const s = await ctx.client("sub");
    const sid = s.sub("au");
    s.unsub(sid, 2);
    await s.flush();
    const p = await ctx.client("pub");
    for (let i = 0; i < 4; i++) p.pub("au", String(i));
    await ctx.settle();
  } });
  cases.push({ name: "verbose-acks", run: async (ctx) => {
    const c = await ctx.client("c", { extra: { verbose: true } });
    c.sub("v");
    c.pub("v", "x");
    c.sub("v..bad");
    await ctx.settle();
  } });
  cases.push({ name: "sys-subjects-from-global-account", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("$SYS.>");
    await s.flush();
    const other = await ctx.client("other");
    other.close();
    const r = await ctx.client("req");
    ctx.note("SERVER.PING", replyDigest(await r.request("$SYS.REQ.SERVER.PING", "", 600)));
    const m = await r.request("$SYS.REQ.ACCOUNT.PING.CONNZ", "", 600);
    ctx.note("ACCOUNT.PING.CONNZ", m && !/^NATS\/1.0 503/.test(m.hdr || "") ? "reply <connz>" : replyDigest(m));
    await ctx.settle();
  } });
  return cases;
}


// Bcrypt hashes (cost 6) made with crypt(3): "bpass" and "btok". nats-server takes $2a$/$2b$.
const BCRYPT_BPASS = "$2b$06$abcdefghijklmnopqrstuuEb8kGiZaLPFpUCuI7.l8LSap2RxnKbm";
const BCRYPT_BPASS_2A = "$2a$06$abcdefghijklmnopqrstuuEb8kGiZaLPFpUCuI7.l8LSap2RxnKbm";
const BCRYPT_BTOK = "$2b$06$zyxwvutsrqponmlkjihgfehUieqvflMu5Cyb6ZdhgLXFB4q/EfzQK";

// A client connects with creds; notes what INFO said about auth.
function connectCase(name, creds, { raw } = {}) {
  return { name, run: async (ctx) => {
    const c = await ctx.client("c", raw ? { raw } : creds);
    ctx.note("info.auth_required", String(c.info?.auth_required));
    if (c.accepted) { c.sub("me"); c.pub("me", "x"); }
    await ctx.settle(100);
  } };
}

function limitsCases() {
  const cases = [];
  cases.push({ name: "info-limits", run: async (ctx) => {
    const c = await ctx.client("c");
    ctx.note("info.max_payload", String(c.info?.max_payload));
    ctx.note("info.headers", String(c.info?.headers));
  } });
  cases.push({ name: "max-payload-at-limit", run: async (ctx) => {
    await subPub(ctx, {}, {}, ["p"], [["p", "x".repeat(512)]]);
  } });
  cases.push({ name: "max-payload-exceeded-pub", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("p");
    await s.flush();
    const p = await ctx.client("pub");
    await p.writeThen("PUB p 513\r\n", "x".repeat(513) + "\r\n");
    await ctx.settle();
  } });
  cases.push({ name: "connect-longer-than-max-payload", run: async (ctx) => {
    const c = await ctx.client("c", { extra: { name: "n".repeat(600) } });
    c.sub("me"); c.pub("me", "x");
    await ctx.settle(100);
  } });
  cases.push({ name: "max-payload-exceeded-hpub", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("p");
    await s.flush();
    const p = await ctx.client("pub");
    const h = "NATS/1.0\r\nX-A: " + "y".repeat(400) + "\r\n\r\n";
    await p.writeThen(`HPUB p ${h.length} ${h.length + 100}\r\n`, h + "x".repeat(100) + "\r\n");
    await ctx.settle();
  } });
  cases.push({ name: "max-payload-lying-size", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("p");
    await s.flush();
    const p = await ctx.client("pub");
    await p.writeThen("PUB p 1000000\r\n", "abc\r\n");
    await ctx.settle();
  } });
  return cases;
}

function controlLineCases() {
  const cases = [];
  cases.push({ name: "max-control-line-sub", run: async (ctx) => {
    const c = await ctx.client("c");
    c.write(`SUB ${"a".repeat(300)} 1\r\n`);
    await ctx.settle(150);
  } });
  cases.push({ name: "max-control-line-pub", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub(">");
    await s.flush();
    const c = await ctx.client("c");
    c.write(`PUB ${"a".repeat(300)} 1\r\nx\r\n`);
    await ctx.settle(150);
  } });
  cases.push({ name: "max-control-line-no-crlf", run: async (ctx) => {
    const c = await ctx.client("c");
    c.write(`PUB ${"a".repeat(2000)}`);
    await ctx.settle(150);
  } });
  cases.push({ name: "huge-connect", run: async (ctx) => {
    await ctx.client("c", { extra: { name: "n".repeat(5000) } });
    await ctx.settle(150);
  } });
  cases.push({ name: "connect-just-under-limit", run: async (ctx) => {
    await ctx.client("c", { raw: `CONNECT {"verbose":false,"name":"${"n".repeat(200)}"}` });
    await ctx.settle(100);
  } });
  cases.push({ name: "pub-line-just-under-limit", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub(">");
    await s.flush();
    const c = await ctx.client("c");
    const subj = "a".repeat(240);
    c.write(`PUB ${subj} 1\r\nx\r\n`);
    await ctx.settle(150);
  } });
  return cases;
}

function maxSubsCases() {
  const cases = [];
  cases.push({ name: "max-subscriptions", run: async (ctx) => {
    const s = await ctx.client("sub");
    s.sub("m1"); s.sub("m2"); s.sub("m3");
    await s.flush();
    const p = await ctx.client("pub");
    p.pub("m1", "a"); p.pub("m3", "c");
    await ctx.settle();
  } });
  return cases;
}

function userPassCases() {
  const cases = [];
  cases.push(connectCase("right-credentials", A("alice", "s3cret")));
  cases.push(connectCase("wrong-password", A("alice", "nope")));
  cases.push(connectCase("wrong-user", A("bob", "s3cret")));
  cases.push(connectCase("no-credentials", {}));
  cases.push(connectCase("user-without-password", { user: "alice" }));
  cases.push(connectCase("empty-password", A("alice", "")));
  cases.push(connectCase("token-instead", { token: "s3cret" }));
  cases.push(connectCase("password-case-differs", A("alice", "S3cret")));
  cases.push(connectCase("user-case-differs", A("Alice", "s3cret")));
  cases.push(connectCase("password-as-number", {}, { raw: `CONNECT {"verbose":false,"user":"alice","pass":123}` }));
  cases.push(connectCase("verbose-wrong-password", { user: "alice", pass: "x", extra: { verbose: true } }));
  cases.push({ name: "pub-before-connect", run: async (ctx) => {
    const s = await ctx.client("sub", A("alice", "s3cret"));
    s.sub(">");
    await s.flush();
    const c = await ctx.client("c", { connect: false });
    c.write("PUB early 2\r\nhi\r\n");
    await ctx.settle();
  } });
  cases.push({ name: "sub-before-connect", run: async (ctx) => {
    const c = await ctx.client("c", { connect: false });
    c.write("SUB early 1\r\n");
    await ctx.settle(150);
    const p = await ctx.client("pub", A("alice", "s3cret"));
    p.pub("early", "x");
    await ctx.settle();
  } });
  cases.push({ name: "ping-before-connect", run: async (ctx) => {
    const c = await ctx.client("c", { connect: false });
    c.write("PING\r\n");
    await ctx.settle(150);
  } });
  cases.push({ name: "second-connect-bad-credentials", run: async (ctx) => {
    const s = await ctx.client("sub", A("alice", "s3cret"));
    s.sub("after");
    await s.flush();
    const c = await ctx.client("c", A("alice", "s3cret"));
    await c.writeThen(`CONNECT ${JSON.stringify({ verbose: false, user: "alice", pass: "wrong" })}\r\n`, "PUB after 1\r\n1\r\n");
    await ctx.settle();
  } });
  cases.push({ name: "second-connect-no-credentials", run: async (ctx) => {
    const s = await ctx.client("sub", A("alice", "s3cret"));
    s.sub("after");
    await s.flush();
    const c = await ctx.client("c", A("alice", "s3cret"));
    c.write(`CONNECT ${JSON.stringify({ verbose: false })}\r\n`);
    c.pub("after", "1");
    await ctx.settle();
  } });
  cases.push({ name: "second-connect-good-credentials", run: async (ctx) => {
    const c = await ctx.client("c", A("alice", "s3cret"));
    c.write(`CONNECT ${JSON.stringify({ verbose: false, user: "alice", pass: "s3cret" })}\r\n`);
    c.sub("x"); c.pub("x", "1");
    await ctx.settle();
  } });
  cases.push({ name: "connect-bad-then-pub-pipelined", run: async (ctx) => {
    const s = await ctx.client("sub", A("alice", "s3cret"));
    s.sub(">");
    await s.flush();
    const c = await ctx.client("c", { connect: false });
    c.write(`CONNECT {"user":"alice","pass":"bad"}\r\nPUB leak 1\r\nx\r\nPING\r\n`);
    await ctx.settle();
  } });
  cases.push({ name: "huge-connect-before-auth", run: async (ctx) => {
    await ctx.client("c", { user: "alice", pass: "s3cret", extra: { name: "n".repeat(200000) } });
    await ctx.settle(150);
  } });
  return cases;
}

function authTimeoutCases() {
  return [
    { name: "no-connect-sent", run: async (ctx) => {
      const c = await ctx.client("c", { connect: false });
      await c.waitFor(() => c.closed, 1500);
      ctx.note("closed-within-1.5s", String(c.closed));
    } },
    { name: "partial-connect", run: async (ctx) => {
      const c = await ctx.client("c", { connect: false });
      c.write("CONNECT {\"user\":\"alice\"");
      await c.waitFor(() => c.closed, 1500);
      ctx.note("closed-within-1.5s", String(c.closed));
    } },
    { name: "connected-client-survives-timeout", run: async (ctx) => {
      const c = await ctx.client("c", A("alice", "s3cret"));
      await sleep(800);
      c.sub("t"); c.pub("t", "x");
      await ctx.settle(100);
    } },
  ];
}

function bcryptCases() {
  return [
    connectCase("bcrypt-2b-right", A("b2b", "bpass")),
    connectCase("bcrypt-2b-wrong", A("b2b", "bpas")),
    connectCase("bcrypt-2b-hash-as-password", A("b2b", BCRYPT_BPASS)),
    connectCase("bcrypt-2a-right", A("b2a", "bpass")),
    connectCase("bcrypt-2a-hash-as-password", A("b2a", BCRYPT_BPASS_2A)),
    connectCase("plain-right", A("plain", "pw")),
    connectCase("plain-wrong-user-right-pass", A("plainx", "pw")),
  ];
}

function tokenCases() {
  return [
    connectCase("token-right", { token: "tok123" }),
    connectCase("token-wrong", { token: "tok124" }),
    connectCase("token-missing", {}),
    connectCase("token-prefix", { token: "tok12" }),
    connectCase("token-as-user-pass", A("tok123", "tok123")),
    connectCase("token-plus-user", { token: "tok123", user: "x", pass: "y" }),
  ];
}

function bcryptTokenCases() {
  return [
    connectCase("bcrypt-token-right", { token: "btok" }),
    connectCase("bcrypt-token-hash-sent", { token: BCRYPT_BTOK }),
    connectCase("bcrypt-token-wrong", { token: "btox" }),
  ];
}

function noAuthUserCases() {
  return [
    { name: "no-credentials-is-default-user", run: async (ctx) => {
      const s = await ctx.client("admin-a", A("a2", "a2"));
      s.sub(">");
      const sb = await ctx.client("b", A("b", "b"));
      sb.sub(">");
      await ctx.settle(50);
      const c = await ctx.client("anon", {});
      c.pub("secret.x", "denied"); c.pub("pub.x", "ok");
      c.sub("sub.denied");
      await ctx.settle();
    } },
    connectCase("wrong-credentials-not-downgraded", A("a", "wrong")),
    connectCase("unknown-user-not-downgraded", A("zzz", "zzz")),
    connectCase("token-not-downgraded", { token: "zzz" }),
    { name: "explicit-other-user", run: async (ctx) => {
      const s = await ctx.client("admin-a", A("a2", "a2"));
      s.sub(">");
      await ctx.settle(50);
      const c = await ctx.client("b", A("b", "b"));
      c.pub("pub.y", "from-b");
      await ctx.settle();
    } },
  ];
}

// Publisher "p" (creds) publishes [subject, data] pairs; admin subscribers see what got through.
function pubPermCase(name, creds, pubs, { adminSubs = [">"], essence } = {}) {
  return { name, essence, run: async (ctx) => {
    const s = await ctx.client("admin", A("admin", "admin"));
    for (const x of adminSubs) s.sub(x);
    await s.flush();
    const p = await ctx.client("p", creds);
    for (const [subj, data] of pubs) p.pub(subj, data ?? subj);
    await ctx.settle();
  } };
}

// Subscriber "s" (creds) subscribes [subject, queue?]; admin publishes; s sees what it got.
function subPermCase(name, creds, subs, pubs, { essence } = {}) {
  return { name, essence, run: async (ctx) => {
    const s = await ctx.client("s", creds);
    for (const x of subs) { const [subj, q] = Array.isArray(x) ? x : [x]; s.sub(subj, q); }
    await s.flush();
    const p = await ctx.client("admin", A("admin", "admin"));
    for (const subj of pubs) p.pub(subj, subj);
    await ctx.settle();
  } };
}

const PERMS_CONFIG = `
authorization {
  users: [
    {user: admin, password: admin}
    {user: pa, password: pa, permissions: {publish: {allow: ["foo.*", "bar.>"]}}}
    {user: pd, password: pd, permissions: {publish: {deny: ["secret.>", "top"]}}}
    {user: pad, password: pad, permissions: {publish: {allow: [">"], deny: ["secret.>"]}}}
    {user: sa, password: sa, permissions: {subscribe: {allow: ["foo.*", "bar.>"]}}}
    {user: sd, password: sd, permissions: {subscribe: {deny: ["secret.>"]}}}
    {user: sad, password: sad, permissions: {subscribe: {allow: ["pub.>", "secret.>"], deny: ["secret.x"]}}}
    {user: list, password: list, permissions: {publish: "only.this", subscribe: ["a", "b.*"]}}
    {user: both, password: both, permissions: {publish: {allow: ["x.>"], deny: ["x.no"]}, subscribe: {allow: ["x.>"], deny: ["x.no"]}}}
    {user: gtdeny, password: gtdeny, permissions: {publish: {allow: ["ok.one"], deny: [">"]}}}
    {user: stardeny, password: stardeny, permissions: {publish: {deny: ["*.secret", "a.*.b"]}}}
    {user: nopub, password: nopub, permissions: {publish: {allow: []}, subscribe: {allow: ["open.>"]}}}
  ]
}
`;

function pubPermCases() {
  return [
    pubPermCase("allow-star-gt", A("pa", "pa"), [["foo.a"], ["foo.a.b"], ["bar.x.y"], ["bar"], ["baz"], ["foo"]],
      { essence: 'publish allow ["foo.*","bar.>"]' }),
    pubPermCase("allow-publish-wildcard-literal", A("pa", "pa"), [["foo.*", "star"], ["foo.>", "gt"], ["bar.*", "bstar"], [">", "all"]],
      { adminSubs: [">", "foo.*", "foo.>"], essence: 'publish allow ["foo.*","bar.>"], PUB to wildcard subjects' }),
    pubPermCase("deny-gt-and-literal", A("pd", "pd"), [["secret.x"], ["secret"], ["secret.x.y"], ["top"], ["top.x"], ["ok"]],
      { essence: 'publish deny ["secret.>","top"]' }),
    pubPermCase("deny-publish-wildcard-literal", A("pd", "pd"), [["secret.*", "star"], ["secret.>", "gt"], ["*", "s"], [">", "all"]],
      { adminSubs: [">", "secret.*", "secret.>"], essence: 'publish deny ["secret.>","top"], PUB to wildcard subjects' }),
    pubPermCase("allow-all-deny-secret", A("pad", "pad"), [["secret.a"], ["public.a"], ["secret"]],
      { essence: 'publish {allow: [">"], deny: ["secret.>"]}' }),
    ...[".secret", ".secret.x", "secret..x", "secret.", "..secret", "secret.x.", ".", "secret.x..y"].map((subj) =>
      pubPermCase(`allow-all-deny-secret-invalid-${subj}`, A("pad", "pad"), [[subj, "leak"], ["public.ok", "ok"]],
        { adminSubs: [">", "secret.>"], essence: `publish {allow: [">"], deny: ["secret.>"]}, PUB "${subj}"` })),
    pubPermCase("allow-star-gt-invalid", A("pa", "pa"), [["foo..", "a"], ["foo.", "b"], [".foo.a", "c"], ["bar..x", "d"], ["bar.", "e"]],
      { essence: 'publish allow ["foo.*","bar.>"], invalid subjects' }),
    { name: "hpub-denied", essence: 'publish deny ["secret.>"], HPUB', run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const p = await ctx.client("p", A("pd", "pd"));
      p.hpub("secret.h", "NATS/1.0\r\nA: b\r\n\r\n", "leak");
      p.hpub("open.h", "NATS/1.0\r\nA: b\r\n\r\n", "ok");
      await ctx.settle();
    } },
    { name: "pub-tab-separated-denied", essence: 'publish deny ["secret.>"], PUB\\tsecret.x', run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const p = await ctx.client("p", A("pd", "pd"));
      p.write("PUB\tsecret.tab\t4\r\nleak\r\nPUB  secret.sp   4\r\nleak\r\n");
      await ctx.settle();
    } },
    { name: "pub-case-variant-denied", essence: 'publish deny ["secret.>"], PUB SECRET.x / lower-case op', run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const p = await ctx.client("p", A("pd", "pd"));
      p.write("pub secret.lc 4\r\nleak\r\nPUB SECRET.x 2\r\nok\r\n");
      await ctx.settle();
    } },
    pubPermCase("deny-overrides-allow", A("gtdeny", "gtdeny"), [["ok.one"], ["other"]], { essence: 'publish {allow: ["ok.one"], deny: [">"]}' }),
    pubPermCase("deny-star-patterns", A("stardeny", "stardeny"), [["x.secret"], ["secret"], ["a.z.b"], ["a.z.b.c"], ["x.y.secret"]],
      { essence: 'publish deny ["*.secret","a.*.b"]' }),
    pubPermCase("list-shorthand-publish", A("list", "list"), [["only.this"], ["only.that"]], { essence: 'publish: "only.this"' }),
    pubPermCase("empty-allow-list", A("nopub", "nopub"), [["any"], ["open.x"]], { essence: "publish {allow: []}" }),
    pubPermCase("both-publish", A("both", "both"), [["x.yes"], ["x.no"], ["y"]], { essence: 'publish {allow: ["x.>"], deny: ["x.no"]}' }),
    { name: "verbose-denied-publish", essence: 'verbose client, publish deny ["secret.>"]', run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const p = await ctx.client("p", { user: "pd", pass: "pd", extra: { verbose: true } });
      p.pub("secret.v", "no"); p.pub("open.v", "yes"); p.sub("x");
      await ctx.settle();
    } },
    { name: "second-connect-switch-to-admin", essence: "connected as pd (deny secret.>), second CONNECT as admin, PUB secret.x", run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const p = await ctx.client("p", A("pd", "pd"));
      p.write(`CONNECT ${JSON.stringify({ verbose: false, user: "admin", pass: "admin" })}\r\n`);
      p.pub("secret.switch", "after-switch");
      await ctx.settle();
    } },
    { name: "second-connect-switch-to-restricted", essence: "connected as admin, second CONNECT as pd, PUB secret.x", run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const p = await ctx.client("p", A("admin", "admin"));
      p.write(`CONNECT ${JSON.stringify({ verbose: false, user: "pd", pass: "pd" })}\r\n`);
      p.pub("secret.switch", "after-switch");
      await ctx.settle();
    } },
    { name: "reply-subject-not-checked", essence: 'publish deny ["secret.>"], PUB ok reply secret.r', run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub("svc.q");
      s.sub("secret.>");
      await s.flush();
      const p = await ctx.client("p", A("pd", "pd"));
      p.sub("secret.r");
      p.pub("svc.q", "q", "secret.r");
      await ctx.settle(100);
      s.pub("secret.r", "answer");
      await ctx.settle();
    } },
  ];
}

function subPermCases() {
  return [
    subPermCase("allow-star-gt", A("sa", "sa"), ["foo.x", "foo.>", "bar.>", "bar.x.y", "baz", ">", "foo.*", "*.x"],
      ["foo.x", "bar.x.y", "baz"], { essence: 'subscribe allow ["foo.*","bar.>"]' }),
    subPermCase("deny-filters-wildcard-delivery", A("sd", "sd"), [">"], ["secret.a", "public.a", "secret", "secret.a.b"],
      { essence: 'subscribe deny ["secret.>"], SUB ">"' }),
    subPermCase("deny-filters-star-delivery", A("sd", "sd"), ["*.a"], ["secret.a", "public.a"], { essence: 'subscribe deny ["secret.>"], SUB "*.a"' }),
    subPermCase("deny-exact-and-subset", A("sd", "sd"), ["secret.>", "secret.*", "secret.x", "secret"], ["secret.x", "secret"],
      { essence: 'subscribe deny ["secret.>"], SUB inside the denied space' }),
    subPermCase("allow-with-deny-inside", A("sad", "sad"), ["secret.>", "secret.x", "pub.x"], ["secret.x", "secret.y", "pub.x"],
      { essence: 'subscribe {allow: ["pub.>","secret.>"], deny: ["secret.x"]}' }),
    subPermCase("list-shorthand-subscribe", A("list", "list"), ["a", "b.x", "c", "b.>"], ["a", "b.x", "c"], { essence: 'subscribe: ["a","b.*"]' }),
    subPermCase("both-subscribe", A("both", "both"), ["x.>", "x.no", "y"], ["x.yes", "x.no", "y"], { essence: 'subscribe {allow: ["x.>"], deny: ["x.no"]}' }),
    subPermCase("queue-sub-under-deny", A("sd", "sd"), [["secret.q", "g"], [">", "g"]], ["secret.q", "open.q"],
      { essence: 'subscribe deny ["secret.>"], queue subscriptions' }),
    subPermCase("invalid-subject-under-perms", A("sa", "sa"), ["foo..x", "foo.", ".foo"], ["foo.x"], { essence: 'subscribe allow ["foo.*"], invalid SUB subjects' }),
    { name: "unsub-denied-sid", essence: "UNSUB of a refused SUB", run: async (ctx) => {
      const s = await ctx.client("s", A("sa", "sa"));
      s.sub("baz", undefined, "7");
      s.unsub("7");
      s.sub("foo.x", undefined, "7");
      await s.flush();
      const p = await ctx.client("admin", A("admin", "admin"));
      p.pub("foo.x", "ok"); p.pub("baz", "no");
      await ctx.settle();
    } },
  ];
}

const QUEUE_CONFIG = `
authorization {
  users: [
    {user: admin, password: admin}
    {user: q, password: q, permissions: {subscribe: {allow: ["jobs workers", "any.>"]}}}
    {user: qd, password: qd, permissions: {subscribe: {allow: [">"], deny: ["jobs bad", "grp.* g1"]}}}
    {user: qw, password: qw, permissions: {subscribe: {allow: ["w.* q.*"]}}}
  ]
}
`;

function queuePermCases() {
  return [
    subPermCase("allowed-queue", A("q", "q"), [["jobs", "workers"]], ["jobs"], { essence: 'subscribe allow ["jobs workers"]' }),
    subPermCase("other-queue", A("q", "q"), [["jobs", "other"]], ["jobs"], { essence: 'subscribe allow ["jobs workers"], SUB jobs other' }),
    subPermCase("no-queue", A("q", "q"), ["jobs"], ["jobs"], { essence: 'subscribe allow ["jobs workers"], SUB jobs (no queue)' }),
    subPermCase("plain-allow-any-queue", A("q", "q"), [["any.x", "whatever"]], ["any.x"], { essence: 'subscribe allow ["any.>"], queue sub' }),
    subPermCase("deny-queue", A("qd", "qd"), [["jobs", "bad"]], ["jobs"], { essence: 'subscribe deny ["jobs bad"]' }),
    subPermCase("deny-queue-other-ok", A("qd", "qd"), [["jobs", "good"], "jobs"], ["jobs"], { essence: 'subscribe deny ["jobs bad"], other queue / no queue' }),
    subPermCase("deny-queue-wildcard", A("qd", "qd"), [["grp.x", "g1"], ["grp.*", "g1"], ["grp.x", "g2"]], ["grp.x"], { essence: 'subscribe deny ["grp.* g1"]' }),
    subPermCase("queue-wildcard-allow", A("qw", "qw"), [["w.a", "q.1"], ["w.a", "r.1"], ["w.a", "q.1.2"]], ["w.a"], { essence: 'subscribe allow ["w.* q.*"]' }),
  ];
}

const RESP_CONFIG = `
authorization {
  users: [
    {user: admin, password: admin}
    {user: svc, password: svc, permissions: {publish: {allow: ["svc.log"]}, subscribe: {allow: ["svc.>"]}, allow_responses: true}}
    {user: svc2, password: svc2, permissions: {subscribe: {allow: ["svc.>"]}, allow_responses: {max: 2, expires: "1s"}}}
    {user: svc3, password: svc3, permissions: {subscribe: {allow: ["svc.>"]}}}
  ]
}
`;

// admin requests svc.req with reply "rep.N"; the service (creds) replies count times (or to
// the listed subjects); admin records what came back.
function respCase(name, creds, replies, { delay = 0, essence } = {}) {
  return { name, essence, run: async (ctx) => {
    const svc = await ctx.client("svc", creds);
    svc.sub("svc.req");
    await svc.flush();
    const admin = await ctx.client("admin", A("admin", "admin"));
    admin.sub("rep.>");
    admin.sub("other.>");
    admin.sub("svc.log");
    await admin.flush();
    admin.pub("svc.req", "q", "rep.1");
    await svc.waitFor(() => svc.msgs().length > 0, 800);
    if (delay) await sleep(delay);
    const m = svc.msgs()[0];
    const reply = m ? m.reply : "rep.1";
    for (const r of replies) svc.pub(r === "$reply" ? reply : r, r === "$reply" ? "answer" : "extra");
    await ctx.settle();
  } };
}

function respCases() {
  return [
    respCase("allow-responses-one-reply", A("svc", "svc"), ["$reply"], { essence: "allow_responses: true" }),
    respCase("allow-responses-second-reply", A("svc", "svc"), ["$reply", "$reply"], { essence: "allow_responses: true (max 1)" }),
    respCase("allow-responses-other-subjects", A("svc", "svc"), ["other.x", "svc.log", "rep.2"], { essence: "allow_responses: true, publish elsewhere" }),
    respCase("allow-responses-max-2", A("svc2", "svc2"), ["$reply", "$reply", "$reply"], { essence: 'allow_responses {max: 2, expires: "1s"}' }),
    respCase("allow-responses-expired", A("svc2", "svc2"), ["$reply"], { delay: 1300, essence: 'allow_responses {max: 2, expires: "1s"}, reply after 1.3s' }),
    respCase("no-allow-responses", A("svc3", "svc3"), ["$reply"], { essence: "subscribe-only user replying without allow_responses" }),
    { name: "allow-responses-reply-to-own-pub", essence: "allow_responses: service tries a reply subject it never got", run: async (ctx) => {
      const s = await ctx.client("admin", A("admin", "admin"));
      s.sub(">");
      await s.flush();
      const svc = await ctx.client("svc", A("svc", "svc"));
      svc.pub("_INBOX.guess", "x");
      svc.pub("rep.1", "x");
      await ctx.settle();
    } },
  ];
}

const DEFAULT_PERMS_CONFIG = `
authorization {
  default_permissions: { publish: {deny: ["secret.>"]}, subscribe: {deny: ["hidden.>"]} }
  users: [
    {user: u, password: u}
    {user: own, password: own, permissions: {publish: {allow: ["secret.own"]}}}
    {user: admin, password: admin, permissions: {publish: ">", subscribe: ">"}}
  ]
}
`;

function defaultPermCases() {
  return [
    pubPermCase("default-publish-deny", A("u", "u"), [["secret.x"], ["open.x"]], { essence: "default_permissions publish deny secret.>" }),
    subPermCase("default-subscribe-deny", A("u", "u"), ["hidden.x", ">"], ["hidden.x", "open.y"], { essence: "default_permissions subscribe deny hidden.>" }),
    pubPermCase("own-permissions-replace-default", A("own", "own"), [["secret.own"], ["secret.x"], ["open.x"]], { essence: "user permissions replace default_permissions" }),
    subPermCase("own-permissions-subscribe", A("own", "own"), ["hidden.x"], ["hidden.x"], { essence: "user with publish-only permissions: subscribe default?" }),
  ];
}

const ACCOUNT_DEFAULT_PERMS_CONFIG = `
accounts {
  A: {
    default_permissions: { publish: {deny: ["secret.>"]} }
    users: [{user: u, password: u}, {user: admin, password: admin, permissions: {publish: ">", subscribe: ">"}}]
  }
}
`;

const ACCOUNTS_CONFIG = `
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [
      {stream: "ev.>"}
      {service: "help"}
      {stream: "priv.>", accounts: [B]}
      {service: "psvc", accounts: [B]}
      {service: "stream.svc", response: stream}
      {service: "chunk.svc", response: chunked}
      {service: "single.svc", response: singleton}
      {service: "wild.*"}
    ]
  }
  B: {
    users: [
      {user: b, password: b}
      {user: b2, password: b2, permissions: {publish: {deny: ["ask.a"]}, subscribe: {deny: ["a.ev.>"]}}}
    ]
    imports: [
      {stream: {account: A, subject: "ev.>"}, prefix: "a"}
      {service: {account: A, subject: "help"}, to: "ask.a"}
      {stream: {account: A, subject: "priv.>"}}
      {service: {account: A, subject: "psvc"}}
      {service: {account: A, subject: "stream.svc"}}
      {service: {account: A, subject: "chunk.svc"}}
      {service: {account: A, subject: "single.svc"}}
      {service: {account: A, subject: "wild.*"}}
    ]
  }
  C: {
    users: [{user: c, password: c}]
    imports: [{stream: {account: A, subject: "ev.>"}}]
  }
}
`;

// Responder in account A answers `replies` times on `svcSubj`; requester in B sends to reqSubj.
function svcCase(name, svcSubj, reqSubj, replies, essence) {
  return { name, essence, run: async (ctx) => {
    const a = await ctx.client("a", A("a", "a"));
    a.sub(svcSubj);
    await a.flush();
    const b = await ctx.client("b", A("b", "b"));
    b.sub("rep.b");
    await b.flush();
    b.pub(reqSubj, "q", "rep.b");
    await a.waitFor(() => a.msgs().length > 0, 800);
    const m = a.msgs()[0];
    for (let i = 0; i < replies; i++) if (m && m.reply) a.pub(m.reply, `r${i}`);
    await ctx.settle();
  } };
}

function accountCases() {
  return [
    { name: "isolation", essence: "accounts A, B, C: no import of x", run: async (ctx) => {
      const b = await ctx.client("b", A("b", "b")); b.sub("x"); b.sub(">");
      const c = await ctx.client("c", A("c", "c")); c.sub("x");
      const a = await ctx.client("a", A("a", "a")); a.sub("x");
      await ctx.settle(50);
      a.pub("x", "from-a");
      await ctx.settle();
    } },
    { name: "stream-import-prefix", essence: 'A exports stream ev.>, B imports with prefix "a"', run: async (ctx) => {
      const b = await ctx.client("b", A("b", "b")); b.sub("a.ev.1"); b.sub("ev.1"); b.sub(">");
      const c = await ctx.client("c", A("c", "c")); c.sub("ev.>"); c.sub("a.ev.>");
      await ctx.settle(50);
      const a = await ctx.client("a", A("a", "a"));
      a.pub("ev.1", "e1"); a.pub("other", "o");
      await ctx.settle();
    } },
    { name: "stream-import-reverse", essence: "B publishes on the imported subject: must not reach A", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a")); a.sub(">");
      await ctx.settle(50);
      const b = await ctx.client("b", A("b", "b"));
      b.pub("a.ev.1", "back"); b.pub("ev.1", "back2"); b.pub("help", "h"); b.pub("x", "x");
      await ctx.settle();
    } },
    svcCase("service-import-to", "help", "ask.a", 1, 'A exports service help, B imports to "ask.a"'),
    svcCase("service-original-subject-not-imported", "help", "help", 1, "B publishes to help (imported as ask.a)"),
    svcCase("service-singleton-default-two-replies", "help", "ask.a", 2, "service (singleton default), responder replies twice"),
    svcCase("service-response-singleton", "single.svc", "single.svc", 3, "response: singleton, 3 replies"),
    svcCase("service-response-stream", "stream.svc", "stream.svc", 3, "response: stream, 3 replies"),
    svcCase("service-response-chunked", "chunk.svc", "chunk.svc", 3, "response: chunked, 3 replies"),
    svcCase("service-private-listed", "psvc", "psvc", 1, "service export accounts: [B], B imports"),
    svcCase("service-wildcard", "wild.*", "wild.x", 1, "service export wild.*, B imports wild.*"),
    { name: "stream-private-listed", essence: "stream export priv.> accounts: [B]", run: async (ctx) => {
      const b = await ctx.client("b", A("b", "b")); b.sub("priv.>");
      const c = await ctx.client("c", A("c", "c")); c.sub("priv.>"); c.sub(">");
      await ctx.settle(50);
      const a = await ctx.client("a", A("a", "a"));
      a.pub("priv.x", "p");
      await ctx.settle();
    } },
    { name: "service-reply-subject-reuse", essence: "A replies to the mapped reply subject after the first answer (singleton)", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a"));
      a.sub("help");
      await a.flush();
      const b = await ctx.client("b", A("b", "b"));
      b.sub("rep.b");
      b.pub("ask.a", "q", "rep.b");
      await a.waitFor(() => a.msgs().length > 0, 800);
      const m = a.msgs()[0];
      if (m) { a.pub(m.reply, "first"); }
      await ctx.settle(200);
      if (m) { a.pub(m.reply, "late"); }
      await ctx.settle();
    } },
    { name: "service-responder-sees-requester-reply", essence: "A's responder: reply subject is mapped (not B's rep.b)", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a"));
      a.sub("help"); a.sub("rep.>");
      await a.flush();
      const b = await ctx.client("b", A("b", "b"));
      b.pub("ask.a", "q", "rep.b");
      await a.waitFor(() => a.msgs().length > 0, 800);
      a.pub("rep.b", "guess");
      await ctx.settle();
    } },
    { name: "sys-subjects-from-account", essence: "account B: SUB $SYS.>, requests to $SYS.REQ.*", run: async (ctx) => {
      const b = await ctx.client("b", A("b", "b"));
      b.sub("$SYS.>");
      await b.flush();
      const other = await ctx.client("a", A("a", "a"));
      other.close();
      await sleep(100);
      ctx.note("SERVER.PING", replyDigest(await b.request("$SYS.REQ.SERVER.PING", "", 600)));
      ctx.note("SERVER.PING.VARZ", replyDigest(await b.request("$SYS.REQ.SERVER.PING.VARZ", "", 600)));
      const m = await b.request("$SYS.REQ.ACCOUNT.PING.CONNZ", "", 600);
      ctx.note("ACCOUNT.PING.CONNZ", m && !/^NATS\/1.0 503/.test(m.hdr || "") ? "reply <connz>" : replyDigest(m));
      await ctx.settle();
    } },
    { name: "import-under-subscribe-deny", essence: "B user b2 subscribe deny a.ev.> (imported stream), SUB > and a.ev.1", run: async (ctx) => {
      const b = await ctx.client("b2", A("b2", "b2")); b.sub(">"); b.sub("a.ev.1");
      await ctx.settle(50);
      const a = await ctx.client("a", A("a", "a"));
      a.pub("ev.1", "e1"); a.pub("ev.2", "e2");
      await ctx.settle();
    } },
    { name: "service-import-under-publish-deny", essence: "B user b2 publish deny ask.a (imported service)", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a")); a.sub("help");
      await a.flush();
      const b = await ctx.client("b2", A("b2", "b2"));
      b.sub("rep.b");
      b.pub("ask.a", "q", "rep.b");
      await ctx.settle();
    } },
    { name: "second-connect-switch-account", essence: "connected as b (account B), second CONNECT as a (account A)", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a")); a.sub("x");
      const b = await ctx.client("bsub", A("b", "b")); b.sub("x");
      await ctx.settle(50);
      const c = await ctx.client("c", A("b", "b"));
      c.write(`CONNECT ${JSON.stringify({ verbose: false, user: "a", pass: "a" })}\r\n`);
      c.pub("x", "after-switch");
      await ctx.settle();
    } },
    { name: "sys-publish-from-account", essence: "account B publishes $SYS.ACCOUNT.A.CONNECT", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a"));
      a.sub("$SYS.>");
      await a.flush();
      const b = await ctx.client("b", A("b", "b"));
      b.pub("$SYS.ACCOUNT.A.CONNECT", "{}");
      b.pub("$SYS.REQ.ACCOUNT.A.CONNZ", "{}");
      await ctx.settle();
    } },
  ];
}

const SYSACC_CONFIG = `
system_account: SYS
accounts {
  SYS: { users: [{user: sys, password: sys}] }
  A: { users: [{user: a, password: a}] }
}
`;

function sysAccountCases() {
  return [
    { name: "normal-account-sees-no-events", essence: "system_account SYS; A subscribes $SYS.>", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a"));
      a.sub("$SYS.>");
      await a.flush();
      const a2 = await ctx.client("a2", A("a", "a"));
      a2.close();
      await ctx.settle();
    } },
    { name: "system-account-sees-connect-event", essence: "system_account SYS subscribes $SYS.ACCOUNT.A.CONNECT", run: async (ctx) => {
      const s = await ctx.client("sys", A("sys", "sys"));
      s.sub("$SYS.ACCOUNT.A.CONNECT");
      await s.flush();
      await ctx.client("a", A("a", "a"));
      await ctx.settle();
      ctx.note("connect-events", String(s.msgs().length));
      s.events = s.events.filter((e) => e.t !== "msg");
    } },
    { name: "normal-account-publishes-sys", essence: "A publishes $SYS.ACCOUNT.A.CONNECT: must not reach SYS", run: async (ctx) => {
      const s = await ctx.client("sys", A("sys", "sys"));
      s.sub("$SYS.ACCOUNT.*.CONNECT");
      s.sub("$SYS.REQ.>");
      await s.flush();
      const a = await ctx.client("a", A("a", "a"));
      a.pub("$SYS.ACCOUNT.A.CONNECT", "forged");
      a.pub("$SYS.REQ.SERVER.PING", "forged");
      await ctx.settle();
      s.events = s.events.filter((e) => !(e.t === "msg" && e.data !== "forged"));
    } },
    { name: "normal-account-server-ping", essence: "A requests $SYS.REQ.SERVER.PING", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a"));
      ctx.note("SERVER.PING", replyDigest(await a.request("$SYS.REQ.SERVER.PING", "", 600)));
      const m = await a.request("$SYS.REQ.SERVER.PING.CONNZ", "", 600);
      ctx.note("SERVER.PING.CONNZ", m && !/^NATS\/1.0 503/.test(m.hdr || "") ? "reply <connz>" : replyDigest(m));
    } },
  ];
}

const CYCLE_STREAM_CONFIG = `
accounts {
  A: { users: [{user: a, password: a}], exports: [{stream: "cyc.>"}], imports: [{stream: {account: B, subject: "cyc.>"}}] }
  B: { users: [{user: b, password: b}], exports: [{stream: "cyc.>"}], imports: [{stream: {account: A, subject: "cyc.>"}}] }
}
`;

function cycleStreamCases() {
  return [
    { name: "one-publish-delivered-once", essence: "A and B export and import cyc.> from each other (stream)", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a")); a.sub("cyc.>");
      const b = await ctx.client("b", A("b", "b")); b.sub("cyc.>");
      await ctx.settle(50);
      const p = await ctx.client("p", A("a", "a"));
      p.pub("cyc.1", "once");
      await ctx.settle();
    } },
  ];
}

const CYCLE_SERVICE_CONFIG = `
accounts {
  A: { users: [{user: a, password: a}], exports: [{service: "svc.cyc"}], imports: [{service: {account: B, subject: "svc.cyc"}}] }
  B: { users: [{user: b, password: b}], exports: [{service: "svc.cyc"}], imports: [{service: {account: A, subject: "svc.cyc"}}] }
}
`;

const CYCLE_SERVICE3_CONFIG = `
accounts {
  A: { users: [{user: a, password: a}], exports: [{service: "s3"}], imports: [{service: {account: C, subject: "s3"}}] }
  B: { users: [{user: b, password: b}], exports: [{service: "s3"}], imports: [{service: {account: A, subject: "s3"}}] }
  C: { users: [{user: c, password: c}], exports: [{service: "s3"}], imports: [{service: {account: B, subject: "s3"}}] }
}
`;

function cycleServiceCases() {
  return [
    { name: "request-in-cycle", essence: "A and B export and import svc.cyc from each other (service)", run: async (ctx) => {
      const a = await ctx.client("a", A("a", "a")); a.sub("svc.cyc");
      const b = await ctx.client("b", A("b", "b")); b.sub("svc.cyc");
      await ctx.settle(50);
      const p = await ctx.client("p", A("a", "a"));
      p.sub("rep.p");
      p.pub("svc.cyc", "q", "rep.p");
      await ctx.settle();
    } },
  ];
}

const JS_CONFIG = `
jetstream { store_dir: "@STORE@" }
accounts {
  J: { jetstream: enabled, users: [{user: j, password: j}] }
  N: { users: [{user: n, password: n}] }
  L: { jetstream: { max_consumers: 1, max_streams: 1, max_mem: 1MB, max_file: 1MB }, users: [{user: l, password: l}] }
}
`;

const jsApi = (ctx, c, key, subj, body, pick) =>
  c.request(subj, body === undefined ? "" : JSON.stringify(body), 1500).then((m) => { ctx.note(key, jsDigest(m, pick)); return m; });

function jsCases() {
  return [
    { name: "js-info-per-account", essence: "$JS.API.INFO from a JS account, a non-JS account, a limited account", run: async (ctx) => {
      const j = await ctx.client("j", A("j", "j"));
      const n = await ctx.client("n", A("n", "n"));
      const l = await ctx.client("l", A("l", "l"));
      await jsApi(ctx, j, "J INFO", "$JS.API.INFO", undefined, ["streams", "consumers"]);
      await jsApi(ctx, n, "N INFO", "$JS.API.INFO");
      await jsApi(ctx, l, "L INFO", "$JS.API.INFO", undefined, ["limits.max_memory", "limits.max_storage", "limits.max_streams", "limits.max_consumers"]);
    } },
    { name: "stream-create-non-js-account", essence: "STREAM.CREATE from account without jetstream", run: async (ctx) => {
      const n = await ctx.client("n", A("n", "n"));
      await jsApi(ctx, n, "N CREATE", "$JS.API.STREAM.CREATE.NS", { name: "NS", subjects: ["ns.>"], storage: "memory" });
      await jsApi(ctx, n, "N LIST", "$JS.API.STREAM.NAMES", {});
    } },
    { name: "streams-in-js-account", essence: "J creates S1 (allow_direct); other accounts cannot see it", run: async (ctx) => {
      const j = await ctx.client("j", A("j", "j"));
      await jsApi(ctx, j, "J CREATE S1", "$JS.API.STREAM.CREATE.S1", { name: "S1", subjects: ["s1.>"], storage: "memory", allow_direct: true }, ["config.name"]);
      j.pub("s1.a", "one");
      await j.flush();
      await sleep(100);
      const n = await ctx.client("n", A("n", "n"));
      n.pub("s1.a", "from-n");
      await n.flush();
      const l = await ctx.client("l", A("l", "l"));
      await jsApi(ctx, j, "J INFO S1", "$JS.API.STREAM.INFO.S1", undefined, ["state.messages"]);
      await jsApi(ctx, n, "N INFO S1", "$JS.API.STREAM.INFO.S1");
      await jsApi(ctx, l, "L INFO S1", "$JS.API.STREAM.INFO.S1");
      ctx.note("J DIRECT.GET", directDigest(await j.request("$JS.API.DIRECT.GET.S1", JSON.stringify({ seq: 1 }), 600)));
      await jsApi(ctx, n, "N CONSUMER on S1", "$JS.API.CONSUMER.CREATE.S1", { stream_name: "S1", config: { ack_policy: "none", deliver_subject: "steal" } });
      await jsApi(ctx, l, "L CONSUMER on S1", "$JS.API.CONSUMER.CREATE.S1", { stream_name: "S1", config: { ack_policy: "none", deliver_subject: "steal" } });
      ctx.note("N DIRECT.GET", directDigest(await n.request("$JS.API.DIRECT.GET.S1", JSON.stringify({ seq: 1 }), 600)));
      ctx.note("L DIRECT.GET", directDigest(await l.request("$JS.API.DIRECT.GET.S1", JSON.stringify({ seq: 1 }), 600)));
      await jsApi(ctx, l, "L MSG.GET S1", "$JS.API.STREAM.MSG.GET.S1", { seq: 1 });
      await jsApi(ctx, l, "L DELETE S1", "$JS.API.STREAM.DELETE.S1");
      await jsApi(ctx, j, "J INFO S1 after", "$JS.API.STREAM.INFO.S1", undefined, ["state.messages"]);
    } },
    { name: "account-limits-streams", essence: "L: max_streams 1, max_mem/max_file 1MB", run: async (ctx) => {
      const l = await ctx.client("l", A("l", "l"));
      await jsApi(ctx, l, "L CREATE too big", "$JS.API.STREAM.CREATE.LBIG", { name: "LBIG", subjects: ["lbig"], storage: "memory", max_bytes: 2 * 1024 * 1024 });
      await jsApi(ctx, l, "L CREATE file too big", "$JS.API.STREAM.CREATE.LBIGF", { name: "LBIGF", subjects: ["lbigf"], storage: "file", max_bytes: 2 * 1024 * 1024 });
      await jsApi(ctx, l, "L CREATE 1", "$JS.API.STREAM.CREATE.L1", { name: "L1", subjects: ["l1.>"], storage: "memory", max_bytes: 512 * 1024 }, ["config.name"]);
      await jsApi(ctx, l, "L CREATE 2", "$JS.API.STREAM.CREATE.L2", { name: "L2", subjects: ["l2.>"], storage: "memory", max_bytes: 1024 });
      await jsApi(ctx, l, "L CREATE 2 file", "$JS.API.STREAM.CREATE.L2F", { name: "L2F", subjects: ["l2f.>"], storage: "file", max_bytes: 1024 });
      await jsApi(ctx, l, "L UPDATE too big", "$JS.API.STREAM.UPDATE.L1", { name: "L1", subjects: ["l1.>"], storage: "memory", max_bytes: 4 * 1024 * 1024 });
    } },
    { name: "account-limits-consumers", essence: "L: max_consumers 1", run: async (ctx) => {
      const l = await ctx.client("l", A("l", "l"));
      await jsApi(ctx, l, "L CONSUMER 1", "$JS.API.CONSUMER.DURABLE.CREATE.L1.c1", { stream_name: "L1", config: { durable_name: "c1", ack_policy: "explicit" } }, ["name"]);
      await jsApi(ctx, l, "L CONSUMER 2", "$JS.API.CONSUMER.DURABLE.CREATE.L1.c2", { stream_name: "L1", config: { durable_name: "c2", ack_policy: "explicit" } });
      await jsApi(ctx, l, "L EPHEMERAL", "$JS.API.CONSUMER.CREATE.L1", { stream_name: "L1", config: { ack_policy: "none", deliver_subject: "dl" } });
      await jsApi(ctx, l, "L CONSUMER named 2.9 API", "$JS.API.CONSUMER.CREATE.L1.c3", { stream_name: "L1", config: { name: "c3", ack_policy: "explicit" } });
    } },
    { name: "durable-on-ephemeral-endpoint", essence: "$JS.API.CONSUMER.CREATE.<stream> with durable_name (J)", run: async (ctx) => {
      const j = await ctx.client("j", A("j", "j"));
      await jsApi(ctx, j, "J DURABLE via CREATE", "$JS.API.CONSUMER.CREATE.S1", { stream_name: "S1", config: { durable_name: "d1", ack_policy: "explicit" } }, ["name"]);
      await jsApi(ctx, j, "J DURABLE name mismatch", "$JS.API.CONSUMER.DURABLE.CREATE.S1.d2", { stream_name: "S1", config: { durable_name: "other", ack_policy: "explicit" } }, ["name"]);
      await jsApi(ctx, j, "J stream name mismatch", "$JS.API.CONSUMER.DURABLE.CREATE.S1.d3", { stream_name: "NOPE", config: { durable_name: "d3", ack_policy: "explicit" } }, ["name"]);
    } },
    { name: "account-limits-storage-fill", essence: "L1 max_bytes 512K in a 1MB account: publish past the limit", run: async (ctx) => {
      const l = await ctx.client("l", A("l", "l"));
      const big = "z".repeat(60000);
      let acks = 0;
      for (let i = 0; i < 12; i++) {
        const m = await l.request("l1.x", big, 1000);
        if (m && /"seq"/.test(m.data)) acks++;
        else { ctx.note(`publish ${i}`, jsDigest(m)); break; }
      }
      ctx.note("acks", String(acks));
      await jsApi(ctx, l, "L INFO L1", "$JS.API.STREAM.INFO.L1", undefined, ["state.messages"]);
    } },
    { name: "external-source", essence: 'stream with sources [{name, external: {api: "$JS.API"}}]', run: async (ctx) => {
      const j = await ctx.client("j", A("j", "j"));
      await jsApi(ctx, j, "J CREATE external api", "$JS.API.STREAM.CREATE.EXT", { name: "EXT", storage: "memory", sources: [{ name: "S1", external: { api: "$JS.API" } }] }, ["config.name"]);
      await jsApi(ctx, j, "J CREATE external deliver", "$JS.API.STREAM.CREATE.EXT2", { name: "EXT2", storage: "memory", sources: [{ name: "S1", external: { api: "$JS.A.API", deliver: "" } }] }, ["config.name"]);
      await jsApi(ctx, j, "J CREATE mirror external api", "$JS.API.STREAM.CREATE.EXT3", { name: "EXT3", storage: "memory", mirror: { name: "S1", external: { api: "$JS.API.>" } } }, ["config.name"]);
      // Leave the account as it was for the cases after this one.
      for (const s of ["EXT", "EXT2", "EXT3"]) await j.request(`$JS.API.STREAM.DELETE.${s}`, "", 1000);
    } },
    { name: "stream-names-per-account", essence: "STREAM.NAMES from each account", run: async (ctx) => {
      const j = await ctx.client("j", A("j", "j"));
      const l = await ctx.client("l", A("l", "l"));
      await jsApi(ctx, j, "J NAMES", "$JS.API.STREAM.NAMES", {}, ["streams"]);
      await jsApi(ctx, l, "L NAMES", "$JS.API.STREAM.NAMES", {}, ["streams"]);
    } },
  ];
}

const JS_WIDE_CONFIG = `
jetstream { store_dir: "@STORE@" }
accounts {
  K: { jetstream: enabled, users: [
    {user: k, password: k}
    {user: k2, password: k2, permissions: {publish: {deny: ["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.CREATE.>"]}}}
  ] }
}
`;

function jsWideCases() {
  return [
    { name: "stream-on-everything", essence: 'fresh account: stream subjects [">"], "*.>", "$JS.API.>", "$SYS.>"', run: async (ctx) => {
      const j = await ctx.client("j", A("k", "k"));
      await jsApi(ctx, j, "CREATE >", "$JS.API.STREAM.CREATE.ALL", { name: "ALL", subjects: [">"], storage: "memory" }, ["config.subjects"]);
      // (no API request is noted while ALL exists: it stores the request too and answers with a
      // PubAck that races the API reply on nats-server)
      await j.request("$JS.API.STREAM.DELETE.ALL", "", 1000);
      await jsApi(ctx, j, "CREATE *.>", "$JS.API.STREAM.CREATE.STARS", { name: "STARS", subjects: ["*.>"], storage: "memory" }, ["config.subjects"]);
      await j.request("$JS.API.STREAM.DELETE.STARS", "", 1000);
      await jsApi(ctx, j, "CREATE $JS.API.>", "$JS.API.STREAM.CREATE.API", { name: "API", subjects: ["$JS.API.>"], storage: "memory" }, ["config.subjects"]);
      await jsApi(ctx, j, "CREATE $JS.>", "$JS.API.STREAM.CREATE.JSALL", { name: "JSALL", subjects: ["$JS.>"], storage: "memory" }, ["config.subjects"]);
      await j.request("$JS.API.STREAM.DELETE.JSALL", "", 1000);
      await jsApi(ctx, j, "CREATE $SYS.>", "$JS.API.STREAM.CREATE.SYS", { name: "SYS", subjects: ["$SYS.>"], storage: "memory" }, ["config.subjects"]);
      await j.request("$JS.API.STREAM.DELETE.SYS", "", 1000);
      await jsApi(ctx, j, "CREATE no subjects", "$JS.API.STREAM.CREATE.NOSUBJ", { name: "NOSUBJ", storage: "memory" }, ["config.subjects"]);
    } },
    { name: "api-permissions", essence: "user with publish deny $JS.API.STREAM.CREATE.> / DELETE.>", run: async (ctx) => {
      const k = await ctx.client("k", A("k", "k"));
      await jsApi(ctx, k, "k CREATE KS", "$JS.API.STREAM.CREATE.KS", { name: "KS", subjects: ["ks"], storage: "memory" }, ["config.name"]);
      const k2 = await ctx.client("k2", A("k2", "k2"));
      await jsApi(ctx, k2, "k2 CREATE", "$JS.API.STREAM.CREATE.K2S", { name: "K2S", subjects: ["k2s"], storage: "memory" });
      await jsApi(ctx, k2, "k2 DELETE KS", "$JS.API.STREAM.DELETE.KS");
      await jsApi(ctx, k2, "k2 INFO KS", "$JS.API.STREAM.INFO.KS", undefined, ["config.name"]);
      await jsApi(ctx, k, "k INFO KS after", "$JS.API.STREAM.INFO.KS", undefined, ["config.name"]);
    } },
  ];
}

// ---------------------------------------------------------------------------------------------
// Operator mode (not implemented by osprey): real JWTs made with nkeys.js when available.

async function makeOperatorMaterial() {
  let nk;
  try { nk = await import("nkeys.js"); } catch { return null; }
  const b64u = (b) => Buffer.from(b).toString("base64url");
  const sign = (kp, claims) => {
    const h = b64u(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
    const p = b64u(JSON.stringify(claims));
    return `${h}.${p}.${b64u(kp.sign(Buffer.from(`${h}.${p}`)))}`;
  };
  const op = nk.createOperator();
  const acc = nk.createAccount();      // preloaded, with a signing key
  const acc2 = nk.createAccount();     // preloaded
  const ghost = nk.createAccount();    // not known to the servers
  const accSk = nk.createAccount();    // ACC's signing key
  const opPub = op.getPublicKey();
  const accPub = acc.getPublicKey();
  const iat = Math.floor(Date.now() / 1000);
  const opJwt = sign(op, { jti: "OPJTI" + iat, iat, iss: opPub, name: "OP", sub: opPub, nats: { type: "operator", version: 2 } });
  const limits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const accountJwt = (kp, name, natsExtra = {}) => sign(op, {
    jti: "ACCJTI" + name + iat, iat, iss: opPub, name, sub: kp.getPublicKey(),
    nats: { limits, default_permissions: { pub: {}, sub: {} }, type: "account", version: 2, ...natsExtra },
  });
  const accJwt = accountJwt(acc, "ACC", { signing_keys: [accSk.getPublicKey()] });
  const acc2Jwt = accountJwt(acc2, "ACC2");
  // A user JWT: issuer key pair (an account or its signing key), the user's key pair, claims.
  let n = 0;
  const userJwt = (issuer, user, natsExtra = {}, top = {}) => sign(issuer, {
    jti: "USERJTI" + iat + "x" + (n++), iat, iss: issuer.getPublicKey(), name: "u", sub: user.getPublicKey(),
    nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: "user", version: 2, ...natsExtra }, ...top,
  });
  return { nk, opPub, accPub, acc2Pub: acc2.getPublicKey(), opJwt, accJwt, acc2Jwt, acc, acc2, ghost, accSk, userJwt, b64u };
}

// Operator mode (JWT): both servers trust the same operator, with two preloaded accounts.
function operatorConfig() {
  return `operator: "${OP.opJwt}"\nresolver: MEMORY\nresolver_preload: {\n  ${OP.accPub}: "${OP.accJwt}"\n  ${OP.acc2Pub}: "${OP.acc2Jwt}"\n}\n`;
}

function operatorCases() {
  const { nk, acc, acc2, ghost, accSk, userJwt, b64u } = OP;
  const now = Math.floor(Date.now() / 1000);
  // Connects with a user JWT; `signer` signs the nonce (null: no signature).
  const jwtConnect = async (ctx, name, jwt, signer, more = {}) => {
    const c = await ctx.client(name, { connect: false });
    const nonce = c.info?.nonce ?? "";
    const extra = { jwt, ...more };
    if (signer) extra.sig = b64u(signer.sign(Buffer.from(nonce)));
    await c.connect({ extra });
    return c;
  };
  const jwtCase = (name, essence, issuer, natsExtra, top, { signer, after, more } = {}) => ({ name, essence, run: async (ctx) => {
    const u = nk.createUser();
    const c = await jwtConnect(ctx, "c", userJwt(issuer, u, natsExtra, top), signer === undefined ? u : signer, more);
    if (c.accepted) {
      if (after) await after(ctx, c);
      else { c.sub("me"); c.pub("me", "x"); }
    }
    await ctx.settle(100);
  } });
  const tamper = (jwt) => {
    const [h, p, sg] = jwt.split(".");
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    claims.nats.pub = { allow: [">"] };
    claims.name = "changed";
    return `${h}.${b64u(JSON.stringify(claims))}.${sg}`;
  };
  return [
    jwtCase("jwt-user-of-account", "user JWT issued by a preloaded account, nonce signed", acc, {}, {}),
    jwtCase("jwt-nonce-signed-by-other", "nonce signed by another key", acc, {}, {}, { signer: nk.createUser() }),
    jwtCase("jwt-no-signature", "user JWT without sig", acc, {}, {}, { signer: null }),
    jwtCase("jwt-unknown-account", "issued by an account the resolver does not have", ghost, {}, {}),
    jwtCase("jwt-expired", "exp in the past", acc, {}, { exp: now - 60 }),
    jwtCase("jwt-not-yet-valid", "nbf in the future", acc, {}, { nbf: now + 3600 }),
    jwtCase("jwt-signing-key", "issued by the account's signing key (issuer_account)", accSk, { issuer_account: OP.accPub }, {}),
    jwtCase("jwt-signing-key-no-issuer-account", "issued by the signing key, no issuer_account", accSk, {}, {}),
    jwtCase("jwt-unlisted-signing-key", "issued by a key the account does not list", nk.createAccount(), { issuer_account: OP.accPub }, {}),
    jwtCase("jwt-bearer", "bearer_token: true, no signature", acc, { bearer_token: true }, {}, { signer: null }),
    jwtCase("jwt-src-elsewhere", "src limited to 10.0.0.0/8", acc, { src: ["10.0.0.0/8"] }, {}),
    jwtCase("jwt-src-loopback", "src 127.0.0.0/8", acc, { src: ["127.0.0.0/8"] }, {}),
    jwtCase("jwt-websocket-only", "allowed_connection_types: [WEBSOCKET]", acc, { allowed_connection_types: ["WEBSOCKET"] }, {}),
    jwtCase("jwt-pub-deny", "pub deny secret.>", acc, { pub: { deny: ["secret.>"] } }, {}, { after: async (ctx, c) => {
      c.sub(">"); c.pub("secret.x", "no"); c.pub("open.x", "yes");
    } }),
    jwtCase("jwt-sub-allow", "sub allow ok.>", acc, { sub: { allow: ["ok.>"] } }, {}, { after: async (ctx, c) => {
      c.sub("ok.x"); c.sub("other.x"); c.pub("ok.x", "1"); c.pub("other.x", "2");
    } }),
    jwtCase("jwt-subs-limit", "subs: 1", acc, { subs: 1 }, {}, { after: async (ctx, c) => {
      c.sub("a"); c.sub("b"); c.pub("a", "1"); c.pub("b", "2");
    } }),
    jwtCase("jwt-payload-limit", "payload: 16", acc, { payload: 16 }, {}, { after: async (ctx, c) => {
      ctx.note("info.max_payload", String(c.info?.max_payload));
      c.sub("p"); c.pub("p", "small"); c.pub("p", "x".repeat(100));
    } }),
    { name: "jwt-tampered", essence: "claims changed after signing", run: async (ctx) => {
      const u = nk.createUser();
      const c = await jwtConnect(ctx, "c", tamper(userJwt(acc, u, { pub: { allow: ["only.this"] } })), u);
      if (c.accepted) { c.sub("me"); c.pub("me", "x"); }
      await ctx.settle(100);
    } },
    { name: "jwt-garbage", essence: "jwt: not a JWT", run: async (ctx) => {
      const c = await ctx.client("c", { connect: false });
      await c.connect({ extra: { jwt: "a.b.c", sig: "AAAA" } });
      await ctx.settle(100);
    } },
    { name: "jwt-user-password", essence: "user/password in operator mode", run: async (ctx) => {
      await ctx.client("c", { user: "a", pass: "b" });
      await ctx.settle(100);
    } },
    { name: "jwt-accounts-isolated", essence: "users of ACC and ACC2 do not see each other", run: async (ctx) => {
      const ua = nk.createUser(), ub = nk.createUser();
      const a = await jwtConnect(ctx, "a", userJwt(acc, ua), ua);
      const b = await jwtConnect(ctx, "b", userJwt(acc2, ub), ub);
      const a2 = await jwtConnect(ctx, "a2", userJwt(acc, nk.createUser()), null);
      if (a.accepted) a.sub("x.>");
      await ctx.settle(50);
      if (b.accepted) b.pub("x.1", "from-b");
      await ctx.settle(100);
      if (a2) ctx.note("a2", String(a2.accepted));
    } },
    { name: "jwt-same-account-delivers", essence: "two users of ACC share subjects", run: async (ctx) => {
      const ua = nk.createUser(), ub = nk.createUser();
      const a = await jwtConnect(ctx, "a", userJwt(acc, ua), ua);
      const b = await jwtConnect(ctx, "b", userJwt(accSk, ub, { issuer_account: OP.accPub }), ub);
      if (a.accepted) a.sub("x.>");
      await ctx.settle(50);
      if (b.accepted) b.pub("x.1", "from-b");
      await ctx.settle(100);
    } },
  ];
}

const OP = await makeOperatorMaterial();

// NKey users: the client signs the nonce of INFO with the user's seed.
async function makeNkeyUsers() {
  let nk;
  try { nk = await import("nkeys.js"); } catch { return null; }
  return { good: nk.createUser(), other: nk.createUser() };
}
const NK = await makeNkeyUsers();

function nkeyCases() {
  const b64u = (b) => Buffer.from(b).toString("base64url");
  const nkCase = (name, essence, build) => ({ name, essence, run: async (ctx) => {
    const c = await ctx.client("c", { connect: false });
    const nonce = c.info?.nonce ?? "";
    ctx.note("info.nonce present", String(nonce !== ""));
    const extra = build(nonce);
    await c.connect({ extra });
    if (c.accepted) { c.sub("me"); c.pub("me", "x"); }
    await ctx.settle(100);
  } });
  return [
    nkCase("nkey-right-signature", "nkey user, nonce signed with its seed",
      (n) => ({ nkey: NK.good.getPublicKey(), sig: b64u(NK.good.sign(Buffer.from(n))) })),
    nkCase("nkey-signed-by-other-key", "nkey user, nonce signed by another key",
      (n) => ({ nkey: NK.good.getPublicKey(), sig: b64u(NK.other.sign(Buffer.from(n))) })),
    nkCase("nkey-no-signature", "nkey without sig", () => ({ nkey: NK.good.getPublicKey() })),
    nkCase("nkey-wrong-nonce", "signature over another nonce",
      () => ({ nkey: NK.good.getPublicKey(), sig: b64u(NK.good.sign(Buffer.from("not-the-nonce"))) })),
    nkCase("nkey-unknown-key", "unknown nkey with a valid signature",
      (n) => ({ nkey: NK.other.getPublicKey(), sig: b64u(NK.other.sign(Buffer.from(n))) })),
    nkCase("nkey-plain-user-pass", "user/password against the plain user of the same config", () => ({ user: "plain", pass: "pw" })),
    nkCase("nkey-as-user-name", "nkey public key sent as user name", () => ({ user: NK.good.getPublicKey(), pass: "" })),
  ];
}

function operatorBatches() {
  const b = [];
  const startOnly = (name, config, essence) => b.push({ name, config, essence });
  if (OP) {
    b.push(...split("operator", "operator JWT, resolver MEMORY, two preloaded accounts", operatorConfig(), operatorCases(), 6));
    startOnly("trusted-keys", `trusted_keys: ["${OP.opPub}"]\n`, "trusted_keys: [<operator key>]");
  }
  startOnly("trusted-keys-bad", `trusted_keys: ["OBADKEY"]\n`, "trusted_keys: [<not a key>]");
  startOnly("operator-garbage", `operator: "not-a-jwt"\nresolver: MEMORY\n`, "operator: <bad jwt>");
  startOnly("resolver-only", `resolver: MEMORY\n`, "resolver: MEMORY alone");
  startOnly("resolver-preload-only", `resolver_preload: {\n  ${OP ? OP.accPub : "AABC"}: "${OP ? OP.accJwt : "x.y.z"}"\n}\n`, "resolver_preload alone");
  return b;
}

// ---------------------------------------------------------------------------------------------
// Configs that may be refused: only whether the server starts is compared.

const START_ONLY = [
  ["users-and-token", "authorization { token: x, users: [{user: a, password: b}] }", "authorization token + users"],
  ["user-and-users", "authorization { user: u, password: p, users: [{user: a, password: b}] }", "authorization user + users"],
  ["user-and-token", "authorization { user: u, password: p, token: t }", "authorization user/password + token"],
  ["same-user-two-accounts", "accounts { A: { users: [{user: dup, password: one}] }, B: { users: [{user: dup, password: two}] } }", "user dup in accounts A and B"],
  ["same-user-twice-in-list", "authorization { users: [{user: d, password: one}, {user: d, password: two}] }", "user d twice in authorization.users"],
  ["same-user-authorization-and-account", "authorization { users: [{user: d, password: one}] }\naccounts { A: { users: [{user: d, password: two}] } }", "user d in authorization and account A"],
  ["no-auth-user-unknown", "no_auth_user: ghost\nauthorization { users: [{user: a, password: b}] }", "no_auth_user names an unknown user"],
  ["no-auth-user-unknown-accounts", "no_auth_user: ghost\naccounts { A: { users: [{user: a, password: b}] } }", "no_auth_user names an unknown user (accounts)"],
  ["no-auth-user-without-users", "no_auth_user: ghost\n", "no_auth_user and no users"],
  ["no-auth-user-with-token", "no_auth_user: a\nauthorization { token: t }", "no_auth_user with token auth"],
  ["import-unknown-account", "accounts { B: { users: [{user: b, password: b}], imports: [{stream: {account: NOPE, subject: \"x\"}}] } }", "import from an undefined account"],
  ["import-not-exported", "accounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"x\"}}] } }", "stream import of a subject A does not export"],
  ["service-import-not-exported", "accounts { A: { users: [{user: a, password: a}] }, B: { users: [{user: b, password: b}], imports: [{service: {account: A, subject: \"x\"}}] } }", "service import of a subject A does not export"],
  ["service-cycle-three", CYCLE_SERVICE3_CONFIG, "service import cycle A->C->B->A on s3"],
  ["invalid-permission-subject", "authorization { users: [{user: a, password: b, permissions: {publish: {allow: [\"foo..bar\"]}}}] }", "publish allow [\"foo..bar\"]"],
  ["invalid-export-subject", "accounts { A: { users: [{user: a, password: a}], exports: [{stream: \"foo..bar\"}] } }", "stream export \"foo..bar\""],
  ["unknown-top-level-key", "frobnicate: 1\n", "unknown top-level key"],
  ["unknown-authorization-key", "authorization { frob: 1, user: a, password: b }", "unknown key in authorization"],
  ["unknown-permission-key", "authorization { users: [{user: a, password: b, permissions: {publsh: {allow: [\"x\"]}}}] }", "misspelled permissions key publsh"],
  ["system-account-unknown", "system_account: NOPE\naccounts { A: { users: [{user: a, password: a}] } }", "system_account names an undefined account"],
  ["allow-responses-bad", "authorization { users: [{user: a, password: b, permissions: {allow_responses: {max: \"x\"}}}] }", "allow_responses {max: \"x\"}"],
  ["stream-import-prefix-wildcard", "accounts { A: { users: [{user: a, password: a}], exports: [{stream: \"e.>\"}] }, B: { users: [{user: b, password: b}], imports: [{stream: {account: A, subject: \"e.>\"}, prefix: \"p.*\"}] } }", "stream import prefix with a wildcard"],
  ["service-import-to-wildcard-mismatch", "accounts { A: { users: [{user: a, password: a}], exports: [{service: \"s.*\"}] }, B: { users: [{user: b, password: b}], imports: [{service: {account: A, subject: \"s.*\"}, to: \"t.>\"}] } }", "service import s.* to t.>"],
  ["private-stream-unlisted-import", "accounts { A: { users: [{user: a, password: a}], exports: [{stream: \"priv.>\", accounts: [B]}] }, B: { users: [{user: b, password: b}] }, C: { users: [{user: c, password: c}], imports: [{stream: {account: A, subject: \"priv.>\"}}] } }", "stream export priv.> accounts [B], C imports it"],
  ["private-service-unlisted-import", "accounts { A: { users: [{user: a, password: a}], exports: [{service: \"psvc\", accounts: [B]}] }, B: { users: [{user: b, password: b}] }, C: { users: [{user: c, password: c}], imports: [{service: {account: A, subject: \"psvc\"}}] } }", "service export psvc accounts [B], C imports it"],
  ["account-jetstream-without-server-js", "accounts { J: { jetstream: enabled, users: [{user: j, password: j}] } }", "account jetstream: enabled, no server jetstream"],
];

const NO_AUTH_USER_CONFIG = `
no_auth_user: a
accounts {
  A: { users: [
    {user: a, password: a, permissions: {publish: {deny: ["secret.>"]}, subscribe: {deny: ["sub.denied"]}}}
    {user: a2, password: a2}
  ] }
  B: { users: [{user: b, password: b}] }
}
`;

const USERPASS_CONFIG = `authorization { user: alice, password: s3cret }\n`;
const USERPASS_SMALL_CONFIG = `authorization { user: alice, password: s3cret }\nmax_control_line: 512\n`;
const AUTH_TIMEOUT_CONFIG = `authorization { user: alice, password: s3cret, timeout: 0.5 }\n`;
const BCRYPT_CONFIG = `authorization { users: [
  {user: b2b, password: "${BCRYPT_BPASS}"}
  {user: b2a, password: "${BCRYPT_BPASS_2A}"}
  {user: plain, password: pw}
] }
`;
const LIMITS_CONFIG = `max_payload: 512\nmax_subscriptions: 2\n`;
const CONTROL_LINE_CONFIG = `max_control_line: 256\n`;

const MAXCONN_CONFIG = `max_connections: 2\n`;
function maxConnCases() {
  return [
    { name: "third-connection-refused", essence: "max_connections: 2", run: async (ctx) => {
      await ctx.client("c1"); await ctx.client("c2"); await ctx.client("c3");
      await ctx.settle(100);
    } },
  ];
}

function split(name, essence, config, cases, size = 8) {
  const out = [];
  for (let i = 0; i < cases.length; i += size) out.push({ name, essence, config, cases: cases.slice(i, i + size) });
  return out;
}

const batches = [
  // Jetstream and the slow cases first: the rest fills the parallel slots around them.
  { name: "jetstream", essence: "accounts J (jetstream), N (none), L (jetstream limits)", config: JS_CONFIG, cases: jsCases() },
  ...split("respond", "allow_responses", RESP_CONFIG, respCases(), 4),
  ...split("noauth", "no auth configured", "# no auth\n", noAuthCases(), 9),
  ...split("limits", "max_payload 512, max_subscriptions 2", LIMITS_CONFIG, [...limitsCases(), ...maxSubsCases()], 5),
  ...split("control-line", "max_control_line 256", CONTROL_LINE_CONFIG, controlLineCases(), 4),
  { name: "jetstream-wide", essence: "account K (jetstream), no streams yet", config: JS_WIDE_CONFIG, cases: jsWideCases() },
  { name: "maxconn", config: MAXCONN_CONFIG, cases: maxConnCases() },
  ...split("userpass", "authorization {user: alice, password: s3cret}", USERPASS_CONFIG, userPassCases(), 7),
  { name: "auth-timeout", essence: "authorization timeout 0.5", config: AUTH_TIMEOUT_CONFIG, cases: authTimeoutCases() },
  { name: "bcrypt", essence: "users with bcrypt passwords", config: BCRYPT_CONFIG, cases: bcryptCases() },
  { name: "token", essence: "authorization {token: tok123}", config: "authorization { token: tok123 }\n", cases: tokenCases() },
  { name: "bcrypt-token", essence: "authorization {token: <bcrypt of btok>}", config: `authorization { token: "${BCRYPT_BTOK}" }\n`, cases: bcryptTokenCases() },
  { name: "no-auth-user", essence: "no_auth_user: a (account A, publish deny secret.>)", config: NO_AUTH_USER_CONFIG, cases: noAuthUserCases() },
  ...split("pub-perms", "user publish permissions", PERMS_CONFIG, pubPermCases(), 7),
  ...split("sub-perms", "user subscribe permissions", PERMS_CONFIG, subPermCases(), 5),
  ...split("queue-perms", "queue-group permissions", QUEUE_CONFIG, queuePermCases(), 4),
  { name: "default-perms", essence: "authorization default_permissions", config: DEFAULT_PERMS_CONFIG, cases: defaultPermCases() },
  { name: "account-default-perms", essence: "account default_permissions", config: ACCOUNT_DEFAULT_PERMS_CONFIG, cases: [
    pubPermCase("account-default-publish-deny", A("u", "u"), [["secret.x"], ["open.x"]], { essence: "accounts.A.default_permissions publish deny secret.>" }),
  ] },
  ...split("accounts", "accounts A/B/C with exports and imports", ACCOUNTS_CONFIG, accountCases(), 5),
  { name: "system-account", essence: "system_account: SYS", config: SYSACC_CONFIG, cases: sysAccountCases() },
  { name: "cycle-stream", essence: "stream import cycle A<->B", config: CYCLE_STREAM_CONFIG, cases: cycleStreamCases() },
  { name: "cycle-service", essence: "service import cycle A<->B", config: CYCLE_SERVICE_CONFIG, cases: cycleServiceCases() },
  ...(NK ? [{ name: "nkey", essence: "authorization users: [{nkey: U...}, {user: plain, password: pw}]",
    config: `authorization { users: [{nkey: ${NK.good.getPublicKey()}}, {user: plain, password: pw}] }\n`, cases: nkeyCases() }] : []),
  ...operatorBatches(),
  ...START_ONLY.map(([name, config, essence]) => ({ name: "config:" + name, essence, config })),
];

// ---------------------------------------------------------------------------------------------

test("auth/permission/account behaviour matches nats-server 2.9.10", { skip: SKIP ? "OSPREY_BIN is nats-server" : false, timeout: 170000 }, async () => {
  assert.ok(existsSync(NATS_SERVER), "nats-server not found at " + NATS_SERVER);
  assert.ok(existsSync(OSPREY), "osprey not found at " + OSPREY);
  const t0 = Date.now();
  const results = [];
  const queue = [...batches];
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (queue.length) await runBatch(queue.shift(), results);
  }));
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const bad = results.filter((r) => r.kind === "BYPASS" || r.kind === "MISMATCH");
  const notRun = results.filter((r) => r.kind === "NOT RUN");
  const order = { BYPASS: 0, MISMATCH: 1 };
  bad.sort((a, b) => order[a.kind] - order[b.kind] || `${a.batch}/${a.name}`.localeCompare(`${b.batch}/${b.name}`));
  const lines = [];
  lines.push(`auth differential: ${results.length} cases in ${secs}s: ${results.filter((r) => r.kind === "OK").length} same, ` +
    `${results.filter((r) => r.kind === "EXPECTED").length} expected differences, ${bad.filter((r) => r.kind === "BYPASS").length} BYPASS, ` +
    `${bad.filter((r) => r.kind === "MISMATCH").length} MISMATCH, ${notRun.length} not run`);
  for (const r of results.filter((x) => x.kind === "EXPECTED")) lines.push(`  EXPECTED  ${r.batch}/${r.name}: ${r.why.join("; ")}`);
  for (const r of bad) {
    lines.push(`  ${r.kind.padEnd(8)}  ${r.batch}/${r.name}${r.essence ? "  [" + r.essence + "]" : ""}`);
    for (const w of r.why) lines.push(`              - ${w}`);
  }
  for (const r of notRun) lines.push(`  NOT RUN   ${r.batch}/${r.name}: ${r.why.join("; ")}`);
  const table = lines.join("\n");
  console.log(table);
  assert.equal(bad.length, 0, table);
});
