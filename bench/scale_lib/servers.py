"""Server processes for bench/scale: fresh store dir, free loopback port, optional strace
(counting fsync/fdatasync with seccomp-bpf so that only those calls stop the server), /proc
readings, and stop by PID with bounded waits."""
import os, select, shutil, signal, socket, subprocess, tempfile, time

from .nats_raw import Conn, NatsError

TICK = os.sysconf("SC_CLK_TCK")
STRACE = shutil.which("strace")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK  # utime + stime, all threads


def status_field(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def _child_of(ppid, binary):
    """The child of `ppid` that has exec'd `binary` (strace also forks short-lived probes)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) != ppid:
                    continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if f.read().split(b"\0", 1)[0] == os.fsencode(binary):
                    return int(d)
        except (OSError, ValueError, IndexError):
            pass
    return None


class Server:
    """One server process on a fresh port. `store` is reused across restart()."""

    def __init__(self, name, binary, store, strace=False):
        self.name, self.binary, self.store = name, binary, store
        self.port = free_port()
        self.log_path = os.path.join(os.path.dirname(store), os.path.basename(store) + ".log")
        self.strace_out = store + ".strace" if strace else None
        self.proc = None
        self.pid = None

    def _argv(self):
        argv = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store]
        if self.strace_out:
            argv = [STRACE, "-f", "--seccomp-bpf", "-qq", "-ttt", "-e", "trace=fsync,fdatasync",
                    "-e", "signal=none", "-o", self.strace_out] + argv
        return argv

    def spawn(self):
        """Starts the process and returns at once (monotonic time of the exec)."""
        log = open(self.log_path, "ab")
        t0 = time.monotonic()
        # its own process group (id = its PID): kill() reaches strace's tracee too
        self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self.pid = self.proc.pid
        if self.strace_out:
            self.pid = None
            deadline = time.monotonic() + 10
            while self.pid is None and time.monotonic() < deadline:
                self.pid = _child_of(self.proc.pid, self.binary)
                if self.pid is None:
                    time.sleep(0.005)
            if self.pid is None:
                self.kill()
                raise RuntimeError("strace did not start the server")
        return t0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def connect(self, timeout=5.0):
        return Conn("127.0.0.1", self.port, timeout=timeout)

    def start(self, timeout=30.0):
        """Spawns and waits (bounded) until JetStream answers $JS.API.INFO."""
        self.spawn()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited at start: {self.log_tail()}")
            try:
                with self.connect(timeout=1.0) as c:
                    r = c.request_json("$JS.API.INFO", None, timeout=1.0)
                    if "error" not in r:
                        return self
                    last = r["error"]
            except (OSError, NatsError, ValueError) as e:
                last = e
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {last}")

    def log_tail(self, n=5):
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def cpu(self):
        return cpu_seconds(self.pid)

    def rss_kb(self):
        return status_field(self.pid, "VmRSS")

    def threads(self):
        return status_field(self.pid, "Threads")

    def stop(self, timeout=30.0):
        """SIGTERM by PID; returns the seconds until the process exited (None: had to SIGKILL).
        The exit is seen through a pidfd (Popen.wait's polling backs off to 50 ms steps)."""
        if not self.alive():
            return None
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            pidfd = None
        t0 = time.monotonic()
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            if pidfd is not None:
                r, _, _ = select.select([pidfd], [], [], timeout)
                took = time.monotonic() - t0
                if not r:
                    raise subprocess.TimeoutExpired(self.binary, timeout)
                self.proc.wait(10)  # reap (with strace: strace exits right after its tracee)
                return took
            self.proc.wait(timeout)
            return time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def kill(self):
        """SIGKILL to the server by PID, then to the process group this run started (its
        id is the PID of the process we spawned: the server itself, or strace and its tracee)."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.proc:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def fsyncs_between(self, t0_wall, t1_wall):
        """fsync+fdatasync calls the server entered between two time.time() stamps."""
        if not self.strace_out or not os.path.exists(self.strace_out):
            return None
        n = 0
        with open(self.strace_out, errors="replace") as f:
            for line in f:
                parts = line.split(None, 2)
                if len(parts) < 3 or not (parts[2].startswith("fsync(") or parts[2].startswith("fdatasync(")):
                    continue
                try:
                    t = float(parts[1])
                except ValueError:
                    continue
                if t0_wall <= t <= t1_wall:
                    n += 1
        return n


class Fresh:
    """Context: a fresh temp dir holding the store (and log) of one server run; removed after."""

    def __init__(self, name, binary, strace=False):
        self.dir = tempfile.mkdtemp(prefix=f"osprey-scale-{name}-")
        self.server = Server(name, binary, os.path.join(self.dir, "store"), strace)

    def __enter__(self):
        return self.server

    def __exit__(self, *exc):
        s = self.server
        try:
            if s.alive():
                s.stop(10)
        finally:
            if s.proc is not None and (s.proc.poll() is None or s.strace_out):
                s.kill()  # with strace: also any tracee left behind
            shutil.rmtree(self.dir, ignore_errors=True)
