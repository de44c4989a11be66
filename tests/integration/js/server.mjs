// Starts a real osprey process on free loopback ports for a test and stops it by PID.
import { spawn } from "node:child_process";
import net from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// A port free now. Never one this process handed out before: a test asks for several before
// its servers bind them (a cluster's route ports, then each server's client port), and the
// system may give a closed one out again.
const handedOut = new Set();
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
      srv.on("error", reject);
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

export function writeConfig(text) {
  const dir = mkdtempSync(join(tmpdir(), "osprey-js-"));
  const path = join(dir, "server.conf");
  writeFileSync(path, text);
  return path;
}

// Another process (the other JS suite runs beside this one) may take a port between the
// check and the server's bind: then the server exits at start, and it starts again on fresh
// client and monitor ports (bounded).
// `bin`: another server binary than OSPREY_BIN (mixed clusters with nats-server).
export async function startServer(args = [], bin = process.env.OSPREY_BIN) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(args, bin);
    } catch (e) {
      if (attempt >= 3 || !/address already in use/i.test(String(e.message))) throw e;
    }
  }
}

async function startServerOnce(args, bin) {
  if (!bin) throw new Error("OSPREY_BIN is not set");
  const port = await freePort();
  const httpPort = await freePort();
  const proc = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-m", String(httpPort), ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (d) => { log += d.toString(); });
  for (let i = 0; i < 500; i++) {
    if (proc.exitCode !== null) throw new Error("osprey exited: " + log);
    if (await canConnect(port)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    port,
    httpPort,
    url: `nats://127.0.0.1:${port}`,
    log: () => log,
    pid: proc.pid,
    // kill -9 (or another signal) and wait for the exit.
    async kill(signal = "SIGKILL") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.on("exit", () => r()));
      proc.kill(signal);
      await exited;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const exited = new Promise((r) => proc.on("exit", (code) => r(code)));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      const code = await exited;
      clearTimeout(timer);
      // A sanitizer build reports errors and leaks in the log at exit: with
      // OSPREY_SANITIZER_CHECK set (the groups suite), each one fails the test.
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

// A JetStream server with a fresh store directory, and a connection to it.
export async function startJetStream() {
  const { connect } = await import("nats");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const dir = mkdtempSync(join(tmpdir(), "osprey-js-"));
  const srv = await startServer(["-js", "-sd", dir]);
  const nc = await connect({ servers: srv.url });
  return {
    srv,
    nc,
    jsm: await nc.jetstreamManager(),
    js: nc.jetstream(),
    async close() {
      await nc.close();
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
