// Shared helpers of the transport tests (TLS, WebSocket): bounded waits, raw sockets, a server
// on ports of the test's choosing.
import { spawn } from "node:child_process";
import net from "node:net";
import tls from "node:tls";
import { canConnect, freePort } from "../server.mjs";

export const WAIT_MS = 10_000; // the default bound of every wait

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A promise that rejects after ms.
export function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// Polls fn until it returns something truthy; throws after ms. `what` (a string, or a function
// giving one) says what for.
export async function waitFor(what, fn, ms = WAIT_MS, every = 50) {
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

export async function waitForPort(port, ms = WAIT_MS) {
  await waitFor(`127.0.0.1:${port} to accept`, () => canConnect(port), ms, 20);
}

// Everything a raw TCP peer sees: the bytes, and how the connection ended.
// `ended` resolves with { how: "end" | "close" | "error", error?, ms } where ms is the time
// from the connect to the end.
export function rawSocket(port, host = "127.0.0.1") {
  const s = net.connect(port, host);
  const state = { socket: s, data: Buffer.alloc(0), closed: false, endedBy: null, error: null };
  const t0 = Date.now();
  state.connected = new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("error", reject);
  });
  s.on("data", (d) => { state.data = Buffer.concat([state.data, d]); });
  s.on("end", () => { state.endedBy ??= "end"; });
  s.on("error", (e) => { state.error = e; state.endedBy ??= "error"; });
  state.ended = new Promise((resolve) => s.on("close", () => {
    state.closed = true;
    resolve({ how: state.endedBy ?? "close", error: state.error, ms: Date.now() - t0 });
  }));
  state.text = () => state.data.toString("latin1");
  // Resolves once the received bytes match re (or rejects after ms).
  state.until = (re, ms = WAIT_MS) => waitFor(`${re} in ${JSON.stringify(state.text())}`,
    () => { const m = re.exec(state.text()); return m || (state.closed && Promise.reject(new Error(`closed before ${re}; got ${JSON.stringify(state.text())}`))); }, ms, 10);
  state.destroy = () => s.destroy();
  return state;
}

// Parses the JSON of the first INFO line of a buffer.
export function parseInfo(text) {
  const m = /^INFO\s+(\{.*\})\s*\r\n/.exec(text);
  if (!m) throw new Error(`no INFO line in ${JSON.stringify(text)}`);
  return JSON.parse(m[1]);
}

// NATS TLS starts after the plaintext INFO line: opens a TCP connection, reads the INFO line,
// then starts TLS on the same socket. Resolves { info, socket (TLSSocket), peer (the peer
// certificate), error } — error is the handshake or verification failure, if any (then socket
// is destroyed).
export async function natsTlsHandshake(port, tlsOptions = {}, ms = WAIT_MS) {
  const raw = rawSocket(port);
  await bounded(raw.connected, ms, "TCP connect");
  const [line] = await raw.until(/^INFO .*\r\n/, ms);
  const info = parseInfo(line);
  raw.socket.removeAllListeners("data");
  const socket = tls.connect({ socket: raw.socket, servername: "localhost", ...tlsOptions });
  try {
    await bounded(new Promise((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
      socket.once("close", () => reject(new Error("closed during the TLS handshake")));
    }), ms, "TLS handshake");
    return { info, socket, peer: socket.getPeerCertificate(), protocol: socket.getProtocol(), error: null };
  } catch (error) {
    socket.destroy();
    return { info, socket, peer: null, error };
  }
}

// A server on ports of the test's choosing (the same ports again after a stop): `bin -a
// 127.0.0.1 -p port [-m httpPort] ...args`. Retries on a port race (bounded).
export async function spawnServer({ port, httpPort = null, args = [], bin = process.env.OSPREY_BIN, waitPorts = [] }) {
  if (!bin) throw new Error("OSPREY_BIN is not set");
  port ??= await freePort();
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const argv = ["-a", "127.0.0.1", "-p", String(port), ...(httpPort ? ["-m", String(httpPort)] : []), ...args];
    const proc = spawn(bin, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proc.stderr.on("data", (d) => { log += d.toString(); });
    const exited = new Promise((r) => proc.on("exit", (code) => r(code)));
    const ports = [port, ...(httpPort ? [httpPort] : []), ...waitPorts];
    let up = false;
    while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) {
      let all = true;
      for (const p of ports) if (!(await canConnect(p))) { all = false; break; }
      if (all) { up = true; break; }
      await sleep(20);
    }
    if (up && proc.exitCode === null) {
      return {
        port,
        httpPort,
        url: `nats://127.0.0.1:${port}`,
        pid: proc.pid,
        log: () => log,
        async stop() {
          if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
          proc.kill("SIGTERM");
          const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
          const code = await exited;
          clearTimeout(timer);
          // As server.mjs: with OSPREY_SANITIZER_CHECK, a sanitizer report in the log fails.
          if (process.env.OSPREY_SANITIZER_CHECK) {
            for (const what of ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"]) {
              const at = log.indexOf(what);
              if (at >= 0) throw new Error("server log: " + log.slice(at, at + 6000));
            }
          }
          return code;
        },
      };
    }
    if (proc.exitCode === null) proc.kill("SIGKILL");
    await bounded(exited, 5000, "server exit").catch(() => {});
    // The previous process's ports may take a moment to be free again.
    if (Date.now() < deadline && /address already in use/i.test(log)) { await sleep(200); continue; }
    throw new Error(`server did not start (${argv.join(" ")}): ${log}`);
  }
}
