// Fault tests on real server processes in Linux network namespaces: partitions are real packet
// drops between real TCP stacks, not a proxy. Header-only (like server_process.h).
//
// Layout of one NetnsLab(n):
//
//     netns osp<pid>-<k>-br:  bridge br0 ─┬─ p0 ══ veth ══ eth0 in netns osp<pid>-<k>-0  (10.X.Y.1/24)
//                                         ├─ p1 ══ veth ══ eth0 in netns osp<pid>-<k>-1  (10.X.Y.2/24)
//                                         └─ ...
//
// - The bridge lives in a namespace of its own: nothing is added to, or changed in, the root
//   namespace (no interface, no address, no route, no firewall rule). Both ends of every veth
//   are created inside the bridge namespace and one end is moved, so no name ever exists in the
//   root namespace even for an instant. <k> counts labs within the process.
// - Addresses are 10.X.Y.(i+1)/24 with X.Y derived from the pid. Every lab is a separate L2/L3
//   domain anyway, so parallel test processes cannot collide even if X.Y repeat.
// - Partitions are made with `tc` on the bridge side of each veth (nothing is needed inside the
//   nodes' namespaces): each bridge port p<i> has an HTB root qdisc whose unclassified traffic
//   passes untouched (default class absent = direct queue, no shaping), one class 1:2 whose leaf
//   is a `blackhole` qdisc, and u32 filters "ip src <ip(j)> -> 1:2" for each j whose packets
//   must not reach node i. So a cut is a silent drop in the network: the senders' stacks see
//   no error, TCP retransmits into the void, ARP still works (only IPv4 is matched). This needs
//   only sch_htb, sch_blackhole and cls_u32 (this kernel has neither netem, gact nor nft/iptables
//   userspace; vlan_filtering is off). Changing a partition adds the new filters before deleting
//   the old ones (alternating filter priorities), so a cut that stays never opens in between.
// - How the test's clients reach the servers: `in_ns(i, fn)` runs fn on a fresh thread that
//   setns(CLONE_NEWNET)'s into node i's namespace (setns affects only the calling thread).
//   A socket belongs to the namespace it was created in, whatever thread uses it later, so a
//   nats.c connection made inside in_ns (natsConnection_Connect creates its socket on the
//   calling thread) keeps working from the test's thread afterwards. The client is thus
//   colocated with node i: client <-> server i traffic never crosses the bridge and is never
//   cut by a partition. Caveat: a new thread inherits the namespace of the thread that creates
//   it, so nats.c's per-connection threads (started inside in_ns) live in node i, but its
//   library-wide threads (timers: a stale-connection check can start a reconnect) live where the
//   first nats.c call was made. A reconnect may thus dial from the wrong namespace: disable
//   reconnect (make_opts does), or make new connections with in_ns.
//   (The alternative, a veth from the root namespace into the bridge, was rejected: it would
//   add an interface and a 10.X.Y.0/24 route to the host.)
// - Processes: `spawn(i, argv, log)` forks; the child setns()'s into node i, unblocks signals,
//   sends stdout+stderr to the log, closes every other descriptor (so a server never inherits a
//   test socket), sets PDEATHSIG=SIGKILL (the server dies with the test process, even on a crash;
//   PDEATHSIG follows the *thread* that forked: spawn from the test's main thread, not from a
//   short-lived one) and execv()'s. The lab remembers every PID it started.
// - Cleanup: the destructor (also run by an atexit hook for labs still alive at exit()) stops the
//   flapper, SIGCONTs + SIGTERMs every process it started, SIGKILLs what is left after a bounded
//   wait, kills by PID anything still inside its namespaces (`ip netns pids`), deletes the veths,
//   the bridge and the namespaces. A lab's constructor first sweeps leftovers of crashed runs:
//   namespaces named osp<pid>-... whose <pid> is no longer alive (or is ours but no live lab of
//   ours owns the name); processes still inside them are killed by PID first.
// - Every wait is bounded; every `ip`/`tc` command runs with a 10 s limit.
//
// Declare the lab before anything that uses it (servers, connections), so it is destroyed last.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef OSPREY_GTEST
#include <gtest/gtest.h>
#endif

namespace osprey::testing {

namespace netns_detail {

struct CmdResult {
    int rc = -1;  // exit status, or -1 (could not run / timed out / killed)
    std::string out;  // stdout + stderr
};

inline std::string find_tool(const char* name) {
    for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
        std::string p = std::string(dir) + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

// Runs argv (argv[0] an absolute path) with a time limit; no shell.
inline CmdResult run(const std::vector<std::string>& argv, int timeout_ms = 10000) {
    CmdResult r;
    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC) != 0) return r;
    std::vector<char*> av;
    for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(pfd[0]);
        ::close(pfd[1]);
        return r;
    }
    if (pid == 0) {
        ::dup2(pfd[1], 1);
        ::dup2(pfd[1], 2);
        ::syscall(SYS_close_range, 3u, ~0u, 0u);
        ::execv(av[0], av.data());
        ::_exit(127);
    }
    ::close(pfd[1]);
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{pfd[0], POLLIN, 0};
        const int pr = ::poll(&p, 1, int(left));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        const ssize_t n = ::read(pfd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        r.out.append(buf, std::size_t(n));
    }
    ::close(pfd[0]);
    int status = 0;
    if (timed_out) ::kill(pid, SIGKILL);
    for (;;) {  // after EOF the child is exiting; after SIGKILL it is gone at once
        const pid_t w = ::waitpid(pid, &status, 0);
        if (w == pid || errno != EINTR) break;
    }
    if (!timed_out && WIFEXITED(status)) r.rc = WEXITSTATUS(status);
    if (timed_out) r.out += "\n(timed out)";
    return r;
}

// Reaps `pid` (our child) within wait_ms; returns a ServerProcess-style status or -2 if still running.
inline int reap(pid_t pid, int wait_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
        int status = 0;
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (w < 0 && errno == ECHILD) return -1;
        if (std::chrono::steady_clock::now() >= end) return -2;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

inline std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> v;
    std::istringstream in(s);
    std::string l;
    while (std::getline(in, l))
        if (!l.empty()) v.push_back(l);
    return v;
}

// Connects to ip:port from the calling thread's namespace within timeout_ms; returns the fd or -1
// (errno_out: 0 on success, ECONNREFUSED, ETIMEDOUT, ...).
inline int connect_tcp(const std::string& ip, int port, int timeout_ms, int* errno_out = nullptr) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    int err = 0;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            const int pr = ::poll(&p, 1, timeout_ms);
            if (pr <= 0) {
                err = ETIMEDOUT;
            } else {
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            }
        }
    }
    if (errno_out) *errno_out = err;
    if (err != 0) {
        ::close(fd);
        return -1;
    }
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

// Labs alive in this process, for the leftover sweep and the atexit hook.
class NetnsLabBase {
public:
    virtual ~NetnsLabBase() = default;
    virtual void cleanup() noexcept = 0;
    virtual const std::string& prefix() const = 0;
};
inline std::mutex& registry_mu() {
    static std::mutex m;
    return m;
}
inline std::set<NetnsLabBase*>& registry() {
    static std::set<NetnsLabBase*> r;
    return r;
}
inline void at_exit_cleanup() {
    std::vector<NetnsLabBase*> labs;
    {
        std::lock_guard<std::mutex> l(registry_mu());
        labs.assign(registry().begin(), registry().end());
    }
    for (auto* lab : labs) lab->cleanup();
}

}  // namespace netns_detail

class NetnsLab final : private netns_detail::NetnsLabBase {
public:
    // True when namespaces, veths, a bridge and the tc pieces partitions use all work here (root,
    // `ip` and `tc` present, kernel support). Probed once per process; `why` gets the reason.
    static bool available(std::string* why = nullptr) {
        static std::once_flag once;
        static bool ok = false;
        static std::string reason;
        std::call_once(once, [] { ok = probe(reason); });
        if (why) *why = reason;
        return ok;
    }

    // n nodes (1..200). seed 0: OSPREY_SEED from the environment if set, else random; the seed
    // is printed and drives only the flapper's jitter (and rng() for the test's own use).
    // Throws std::runtime_error (after undoing what it made) if the lab cannot be built.
    explicit NetnsLab(int n, std::uint64_t seed = 0) : n_(n) {
        if (n < 1 || n > 200) throw std::runtime_error("NetnsLab: 1..200 nodes");
        std::string why;
        if (!available(&why)) throw std::runtime_error("NetnsLab unavailable: " + why);
        if (seed == 0) {
            if (const char* e = std::getenv("OSPREY_SEED"); e && *e) seed = std::strtoull(e, nullptr, 0);
            if (seed == 0) seed = (std::uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
        }
        seed_ = seed;
        rng_.seed(seed_);
        static std::atomic<int> counter{0};
        const int k = counter++;
        prefix_ = "osp" + std::to_string(::getpid()) + "-" + std::to_string(k);
        const unsigned pid = unsigned(::getpid());
        net_ = "10." + std::to_string(100 + (pid / 256) % 100) + "." + std::to_string(pid % 256) + ".";
        std::fprintf(stderr, "[netns] lab %s: %d nodes on %s0/24, seed=%llu (OSPREY_SEED=%llu replays)\n",
                     prefix_.c_str(), n_, net_.c_str(), (unsigned long long)seed_, (unsigned long long)seed_);
        {
            std::lock_guard<std::mutex> l(netns_detail::registry_mu());
            static bool hooked = false;
            (void)netns_detail::registry();  // constructed before the hook: destroyed after it ran
            if (!hooked) {
                std::atexit(netns_detail::at_exit_cleanup);
                hooked = true;
            }
            netns_detail::registry().insert(this);
        }
        sweep_leftovers();
        blocked_.assign(std::size_t(n_), std::vector<bool>(std::size_t(n_), false));
        applied_.assign(std::size_t(n_), {});
        prio_.assign(std::size_t(n_), 1);
        try {
            build();
        } catch (...) {
            cleanup();
            throw;
        }
    }

    NetnsLab(const NetnsLab&) = delete;
    NetnsLab& operator=(const NetnsLab&) = delete;

    ~NetnsLab() override {
        cleanup();
        std::lock_guard<std::mutex> l(netns_detail::registry_mu());
        netns_detail::registry().erase(this);
    }

    int size() const { return n_; }
    std::uint64_t seed() const { return seed_; }
    std::mt19937_64& rng() { return rng_; }
    std::string ip(int i) const { return net_ + std::to_string(i + 1); }
    std::string ns_name(int i) const { return prefix_ + "-" + std::to_string(i); }
    std::string bridge_ns() const { return prefix_ + "-br"; }
    const std::string& prefix() const override { return prefix_; }

    // ---- code and connections inside a namespace -------------------------------------------

    // Runs fn on a fresh thread inside node i's network namespace and returns its result
    // (exceptions are rethrown here). Sockets fn creates stay in that namespace.
    template <class F>
    auto in_ns(int i, F&& fn) -> std::invoke_result_t<F&> {
        using R = std::invoke_result_t<F&>;
        std::exception_ptr err;
        std::conditional_t<std::is_void_v<R>, int, std::optional<R>> out{};
        const int fd = ns_fd(i);
        std::thread t([&] {
            try {
                if (::setns(fd, CLONE_NEWNET) != 0)
                    throw std::runtime_error("setns: " + std::string(std::strerror(errno)));
                if constexpr (std::is_void_v<R>) {
                    fn();
                } else {
                    out.emplace(fn());
                }
            } catch (...) {
                err = std::current_exception();
            }
        });
        t.join();
        if (err) std::rethrow_exception(err);
        if constexpr (!std::is_void_v<R>) return std::move(*out);
    }

    // A TCP connect from inside node `from` to ip:port within timeout_ms: 0 if it connected,
    // else the errno (ECONNREFUSED: reachable, nothing listening; ETIMEDOUT: packets dropped).
    int tcp_probe(int from, const std::string& ip, int port, int timeout_ms = 1000) {
        return in_ns(from, [&] {
            int e = 0;
            const int fd = netns_detail::connect_tcp(ip, port, timeout_ms, &e);
            if (fd >= 0) ::close(fd);
            return e;
        });
    }

    // HTTP GET from inside node `from` (the monitor endpoints); the body, or "" on failure.
    // Bounded: connect and the whole exchange within timeout_ms.
    std::string http_get(int from, const std::string& ip, int port, const std::string& path, int timeout_ms = 2000) {
        return in_ns(from, [&]() -> std::string {
            const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
            const int fd = netns_detail::connect_tcp(ip, port, timeout_ms);
            if (fd < 0) return {};
            const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + ip + "\r\nConnection: close\r\n\r\n";
            ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
            std::string resp;
            char buf[8192];
            for (;;) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
                if (left <= 0) break;
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, int(left)) <= 0) break;
                const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                resp.append(buf, std::size_t(n));
            }
            ::close(fd);
            const auto body = resp.find("\r\n\r\n");
            return body == std::string::npos ? std::string() : resp.substr(body + 4);
        });
    }

    // ---- processes ---------------------------------------------------------------------------

    // Starts argv (argv[0] an absolute path) inside node i, stdout+stderr to log_path (truncated).
    // Returns the PID; the lab kills it at the end if nobody stopped it before.
    pid_t spawn(int i, const std::vector<std::string>& argv, const std::string& log_path) {
        const int nsfd = ns_fd(i);
        const int logfd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (logfd < 0) throw std::runtime_error("open " + log_path + ": " + std::strerror(errno));
        std::vector<char*> av;
        for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
        av.push_back(nullptr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) {
            ::close(logfd);
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            // Only async-signal-safe calls from here to execv.
            if (::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(126);
            ::dup2(logfd, 1);
            ::dup2(logfd, 2);
            ::syscall(SYS_close_range, 3u, ~0u, 0u);
            sigset_t all;
            sigemptyset(&all);
            ::sigprocmask(SIG_SETMASK, &all, nullptr);
            struct sigaction dfl{};
            dfl.sa_handler = SIG_DFL;
            for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD})
                ::sigaction(s, &dfl, nullptr);
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(125);
            ::execv(av[0], av.data());
            const int e = errno;  // into the log: "execv failed, errno NN"
            char msg[] = "[netns] execv failed, errno    \n";
            msg[sizeof msg - 3] = char('0' + e % 10);
            msg[sizeof msg - 4] = char('0' + (e / 10) % 10);
            msg[sizeof msg - 5] = char('0' + (e / 100) % 10);
            (void)!::write(2, msg, sizeof msg - 1);
            ::_exit(127);
        }
        ::close(logfd);
        std::lock_guard<std::mutex> l(mu_);
        pids_.push_back(pid);
        return pid;
    }

    // True while `pid` (started by this lab) has not exited.
    bool alive(pid_t pid) {
        std::lock_guard<std::mutex> l(mu_);
        if (std::find(pids_.begin(), pids_.end(), pid) == pids_.end()) return false;
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            exited_[pid] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            pids_.erase(std::find(pids_.begin(), pids_.end(), pid));
            return false;
        }
        return true;
    }

    // Sends sig (after SIGCONT, in case it is paused) and waits up to wait_ms, then SIGKILLs.
    // Returns the exit status (128+signal if killed by one), or -1 if it was SIGKILLed by us or
    // is not ours.
    int stop(pid_t pid, int sig = SIGTERM, int wait_ms = 5000) {
        {
            std::lock_guard<std::mutex> l(mu_);
            if (auto e = exited_.find(pid); e != exited_.end()) return e->second;
            if (std::find(pids_.begin(), pids_.end(), pid) == pids_.end()) return -1;
        }
        ::kill(pid, sig);
        if (sig != SIGKILL) ::kill(pid, SIGCONT);
        int st = netns_detail::reap(pid, wait_ms);
        if (st == -2) {
            ::kill(pid, SIGKILL);
            netns_detail::reap(pid, 5000);
            st = -1;
        }
        std::lock_guard<std::mutex> l(mu_);
        pids_.erase(std::remove(pids_.begin(), pids_.end(), pid), pids_.end());
        exited_[pid] = st;
        return st;
    }

    void pause(pid_t pid) { ::kill(pid, SIGSTOP); }
    void resume(pid_t pid) { ::kill(pid, SIGCONT); }

    // ---- faults ------------------------------------------------------------------------------

    // Nodes in different groups cannot exchange a single IPv4 packet (both ways); nodes listed in
    // no group are each alone. Replaces the previous partition (and cut()s).
    void partition(const std::vector<std::vector<int>>& groups) {
        std::vector<int> group(std::size_t(n_), -1);
        int g = 0;
        for (auto& grp : groups) {
            for (int i : grp) {
                check(i);
                group[std::size_t(i)] = g;
            }
            ++g;
        }
        for (int i = 0; i < n_; ++i)
            if (group[std::size_t(i)] < 0) group[std::size_t(i)] = g++;
        std::lock_guard<std::mutex> l(fault_mu_);
        for (int a = 0; a < n_; ++a)
            for (int b = 0; b < n_; ++b) blocked_[std::size_t(a)][std::size_t(b)] = group[std::size_t(a)] != group[std::size_t(b)];
        apply_locked();
    }

    // Node i cut from every other node (the others still see each other). Adds to the current
    // partition.
    void isolate(int i) {
        check(i);
        std::lock_guard<std::mutex> l(fault_mu_);
        for (int j = 0; j < n_; ++j)
            if (j != i) blocked_[std::size_t(i)][std::size_t(j)] = blocked_[std::size_t(j)][std::size_t(i)] = true;
        apply_locked();
    }

    // Drops packets from `from` to `to` (and back, unless one_way). Adds to the current partition.
    // One way: TCP from `from` to `to` breaks too, but differently (SYNs or data lost one way).
    void cut(int from, int to, bool one_way = false) {
        check(from);
        check(to);
        std::lock_guard<std::mutex> l(fault_mu_);
        blocked_[std::size_t(from)][std::size_t(to)] = true;
        if (!one_way) blocked_[std::size_t(to)][std::size_t(from)] = true;
        apply_locked();
    }

    // Every cut removed (a running flapper keeps flapping).
    void heal() {
        std::lock_guard<std::mutex> l(fault_mu_);
        for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
        apply_locked();
    }

    bool blocked(int from, int to) {
        std::lock_guard<std::mutex> l(fault_mu_);
        return effective_locked(from, to);
    }

    // A background thread isolates node i and heals it in turn, each phase period/2 with up to
    // +-25% seeded jitter, on top of the current partition, until stop_flap() (or the end).
    void start_flap(int i, std::chrono::milliseconds period) {
        check(i);
        stop_flap();
        {
            std::lock_guard<std::mutex> l(fault_mu_);
            flap_node_ = i;
            flap_cut_ = false;
            flap_stop_ = false;
        }
        flapper_ = std::thread([this, period] {
            std::unique_lock<std::mutex> l(fault_mu_);
            while (!flap_stop_) {
                const auto half = period.count() / 2;
                const auto jitter = half / 4 > 0 ? std::int64_t(rng_() % std::uint64_t(half / 2 + 1)) - half / 4 : 0;
                flap_cv_.wait_for(l, std::chrono::milliseconds(std::max<std::int64_t>(1, half + jitter)),
                                  [this] { return flap_stop_; });
                if (flap_stop_) break;
                flap_cut_ = !flap_cut_;
                try {
                    apply_locked();
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "[netns] flap: %s\n", e.what());
                }
            }
        });
    }

    void stop_flap() {
        {
            std::lock_guard<std::mutex> l(fault_mu_);
            flap_stop_ = true;
        }
        flap_cv_.notify_all();
        if (flapper_.joinable()) flapper_.join();
        std::lock_guard<std::mutex> l(fault_mu_);
        if (flap_node_ >= 0) {
            flap_node_ = -1;
            flap_cut_ = false;
            if (!cleaned_) apply_locked();
        }
    }

    // Packets dropped so far by node i's bridge port (tc's counter), for diagnostics.
    std::string tc_stats(int i) {
        return netns_detail::run({tc_, "-n", bridge_ns(), "-s", "qdisc", "show", "dev", port(i)}).out;
    }

private:
    static std::string ip_tool() {
        static const std::string p = netns_detail::find_tool("ip");
        return p;
    }
    static std::string tc_tool() {
        static const std::string p = netns_detail::find_tool("tc");
        return p;
    }

    static bool probe(std::string& why) {
        if (::geteuid() != 0) {
            why = "not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)";
            return false;
        }
        const std::string ip = ip_tool(), tc = tc_tool();
        if (ip.empty() || tc.empty()) {
            why = "`ip` or `tc` (iproute2) not found";
            return false;
        }
        const std::string ns = "osp" + std::to_string(::getpid()) + "-probe";
        netns_detail::run({ip, "netns", "del", ns});
        auto r = netns_detail::run({ip, "netns", "add", ns});
        if (r.rc != 0) {
            why = "`ip netns add` failed: " + r.out;
            return false;
        }
        const std::vector<std::vector<std::string>> steps{
            {ip, "-n", ns, "link", "add", "br0", "type", "bridge"},
            {ip, "-n", ns, "link", "add", "pa", "type", "veth", "peer", "name", "pb"},
            {tc, "-n", ns, "qdisc", "add", "dev", "pa", "root", "handle", "1:", "htb", "default", "ffff"},
            {tc, "-n", ns, "class", "add", "dev", "pa", "parent", "1:", "classid", "1:2", "htb", "rate", "1mbit"},
            {tc, "-n", ns, "qdisc", "add", "dev", "pa", "parent", "1:2", "handle", "2:", "blackhole"},
            {tc, "-n", ns, "filter", "add", "dev", "pa", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
             "match", "ip", "src", "10.0.0.1/32", "flowid", "1:2"},
        };
        bool ok = true;
        for (auto& s : steps) {
            r = netns_detail::run(s);
            if (r.rc != 0) {
                why = "kernel support missing (";
                for (std::size_t k = 3; k < s.size(); ++k) why += (k > 3 ? " " : "") + s[k];
                why += "): " + r.out;
                ok = false;
                break;
            }
        }
        netns_detail::run({ip, "netns", "del", ns});
        if (ok) why.clear();
        return ok;
    }

    std::string port(int i) const { return "p" + std::to_string(i); }

    void check(int i) const {
        if (i < 0 || i >= n_) throw std::out_of_range("NetnsLab: no node " + std::to_string(i));
    }

    int ns_fd(int i) const {
        check(i);
        if (std::size_t(i) >= fds_.size() || fds_[std::size_t(i)] < 0) throw std::runtime_error("NetnsLab: namespace not open");
        return fds_[std::size_t(i)];
    }

    void must(const std::vector<std::string>& argv) {
        auto r = netns_detail::run(argv);
        if (r.rc != 0) {
            std::string cmd;
            for (auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
            throw std::runtime_error("NetnsLab: `" + cmd + "` failed: " + r.out);
        }
    }

    void build() {
        const std::string br = bridge_ns();
        must({ip_, "netns", "add", br});
        made_.push_back(br);
        must({ip_, "-n", br, "link", "add", "br0", "type", "bridge"});
        must({ip_, "-n", br, "link", "set", "br0", "up"});
        for (int i = 0; i < n_; ++i) {
            const std::string ns = ns_name(i), p = port(i), peer = "n" + std::to_string(i);
            must({ip_, "netns", "add", ns});
            made_.push_back(ns);
            must({ip_, "-n", ns, "link", "set", "lo", "up"});
            must({ip_, "-n", br, "link", "add", p, "type", "veth", "peer", "name", peer});
            must({ip_, "-n", br, "link", "set", peer, "netns", ns});
            must({ip_, "-n", ns, "link", "set", peer, "name", "eth0"});
            must({ip_, "-n", ns, "addr", "add", ip(i) + "/24", "dev", "eth0"});
            must({ip_, "-n", ns, "link", "set", "eth0", "up"});
            must({ip_, "-n", br, "link", "set", p, "master", "br0"});
            must({ip_, "-n", br, "link", "set", p, "up"});
            // Port egress = packets on their way to node i: pass, unless a filter sends them to
            // class 1:2, whose leaf qdisc drops everything.
            must({tc_, "-n", br, "qdisc", "add", "dev", p, "root", "handle", "1:", "htb", "default", "ffff"});
            must({tc_, "-n", br, "class", "add", "dev", p, "parent", "1:", "classid", "1:2", "htb", "rate", "1mbit"});
            must({tc_, "-n", br, "qdisc", "add", "dev", p, "parent", "1:2", "handle", "2:", "blackhole"});
            const std::string path = "/run/netns/" + ns;
            const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) throw std::runtime_error("NetnsLab: open " + path + ": " + std::strerror(errno));
            fds_.push_back(fd);
        }
        // Bounded: every node reaches every other (a connect to a closed port is refused, which
        // proves the path: ARP, bridge, veths all up).
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (int i = 0; i < n_; ++i) {
            const int to = (i + 1) % n_;
            for (;;) {
                const int e = tcp_probe(i, ip(to), 9, 300);
                if (e == ECONNREFUSED || e == 0) break;
                if (std::chrono::steady_clock::now() >= end)
                    throw std::runtime_error("NetnsLab: node " + std::to_string(i) + " cannot reach " + ip(to) + ": " +
                                             std::strerror(e));
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        }
    }

    bool effective_locked(int from, int to) const {
        if (from == to) return false;
        if (blocked_[std::size_t(from)][std::size_t(to)]) return true;
        return flap_cut_ && (from == flap_node_ || to == flap_node_);
    }

    // Brings every port's filters to the effective matrix: port p<to> drops packets from ip(from).
    void apply_locked() {
        if (cleaned_) return;
        const std::string br = bridge_ns();
        for (int to = 0; to < n_; ++to) {
            std::set<int> want;
            for (int from = 0; from < n_; ++from)
                if (effective_locked(from, to)) want.insert(from);
            auto& have = applied_[std::size_t(to)];
            if (want == have) continue;
            const int old_prio = prio_[std::size_t(to)], new_prio = old_prio == 1 ? 2 : 1;
            for (int from : want)
                must({tc_, "-n", br, "filter", "add", "dev", port(to), "parent", "1:", "protocol", "ip", "prio",
                      std::to_string(new_prio), "u32", "match", "ip", "src", ip(from) + "/32", "flowid", "1:2"});
            if (!have.empty())
                must({tc_, "-n", br, "filter", "del", "dev", port(to), "parent", "1:", "prio", std::to_string(old_prio)});
            have = want;
            prio_[std::size_t(to)] = new_prio;
        }
    }

    // Namespaces named osp<pid>-... whose pid is dead, or ours but owned by no live lab.
    void sweep_leftovers() {
        auto r = netns_detail::run({ip_, "netns", "list"});
        if (r.rc != 0) return;
        std::vector<std::string> live;
        {
            std::lock_guard<std::mutex> l(netns_detail::registry_mu());
            for (auto* lab : netns_detail::registry()) live.push_back(lab->prefix() + "-");
        }
        const pid_t me = ::getpid();
        for (auto& line : netns_detail::lines(r.out)) {
            const std::string name = line.substr(0, line.find(' '));
            if (name.rfind("osp", 0) != 0) continue;
            std::size_t k = 3;
            while (k < name.size() && std::isdigit(static_cast<unsigned char>(name[k]))) ++k;
            if (k == 3 || k >= name.size() || name[k] != '-') continue;
            const long pid = std::strtol(name.substr(3, k - 3).c_str(), nullptr, 10);
            if (pid == me) {
                bool owned = name.substr(k + 1) == "probe";
                for (auto& p : live) owned = owned || name.rfind(p, 0) == 0;
                if (owned) continue;
            } else if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) {
                continue;  // that test process is still running
            }
            std::fprintf(stderr, "[netns] removing leftover namespace %s\n", name.c_str());
            kill_inside(name);
            netns_detail::run({ip_, "netns", "del", name});
        }
    }

    // SIGKILLs, by PID, every process still inside namespace `name` (and reaps our children).
    void kill_inside(const std::string& name) {
        for (int round = 0; round < 3; ++round) {
            auto r = netns_detail::run({ip_, "netns", "pids", name});
            auto pids = netns_detail::lines(r.out);
            if (r.rc != 0 || pids.empty()) return;
            for (auto& p : pids) {
                const pid_t pid = pid_t(std::strtol(p.c_str(), nullptr, 10));
                if (pid <= 1 || pid == ::getpid()) continue;
                ::kill(pid, SIGKILL);
                netns_detail::reap(pid, 1000);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    void cleanup() noexcept override {
        try {
            stop_flap();
        } catch (...) {
        }
        std::lock_guard<std::mutex> cl(cleanup_mu_);
        if (cleaned_) return;
        {
            std::lock_guard<std::mutex> fl(fault_mu_);
            cleaned_ = true;
        }
        std::vector<pid_t> pids;
        {
            std::lock_guard<std::mutex> l(mu_);
            pids.swap(pids_);
        }
        for (pid_t p : pids) {
            ::kill(p, SIGTERM);
            ::kill(p, SIGCONT);
        }
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        for (pid_t p : pids) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
            if (netns_detail::reap(p, int(std::max<std::int64_t>(0, left))) == -2) {
                ::kill(p, SIGKILL);
                netns_detail::reap(p, 5000);
            }
        }
        for (auto& ns : made_) kill_inside(ns);
        for (int fd : fds_) ::close(fd);
        fds_.clear();
        const std::string br = bridge_ns();
        if (std::find(made_.begin(), made_.end(), br) != made_.end()) {
            for (int i = 0; i < n_; ++i) netns_detail::run({ip_, "-n", br, "link", "del", port(i)});
            netns_detail::run({ip_, "-n", br, "link", "del", "br0"});
        }
        for (auto it = made_.rbegin(); it != made_.rend(); ++it) netns_detail::run({ip_, "netns", "del", *it});
        made_.clear();
    }

    int n_;
    std::uint64_t seed_ = 0;
    std::mt19937_64 rng_;
    std::string prefix_, net_;
    std::string ip_ = ip_tool(), tc_ = tc_tool();
    std::vector<std::string> made_;  // namespaces created, in order
    std::vector<int> fds_;           // node namespaces, O_RDONLY|O_CLOEXEC

    std::mutex mu_;  // pids_, exited_
    std::vector<pid_t> pids_;
    std::map<pid_t, int> exited_;

    std::mutex cleanup_mu_;
    std::mutex fault_mu_;  // everything below
    std::vector<std::vector<bool>> blocked_;  // blocked_[from][to]
    std::vector<std::set<int>> applied_;      // per destination port: sources dropped now
    std::vector<int> prio_;                   // per port: filter priority in use
    bool cleaned_ = false;
    int flap_node_ = -1;
    bool flap_cut_ = false;
    bool flap_stop_ = false;
    std::condition_variable flap_cv_;
    std::thread flapper_;
};

// A NATS server (osprey or nats-server) inside node `node` of a lab, listening on the node's
// address: `binary -a <ip> -p <port> [-m <http_port>] extra...`. Waits (bounded) until both ports
// accept connections from inside the namespace. The lab must outlive it.
class NsServerProcess {
public:
    NsServerProcess(NetnsLab& lab, int node, const std::string& binary, std::vector<std::string> extra = {},
                    int port = 4222, int http_port = 8222, int start_ms = 10000)
        : lab_(lab), node_(node), port_(port), http_port_(http_port) {
        std::vector<std::string> args{binary, "-a", lab.ip(node), "-p", std::to_string(port)};
        if (http_port > 0) {
            args.push_back("-m");
            args.push_back(std::to_string(http_port));
        }
        args.insert(args.end(), extra.begin(), extra.end());
        static std::atomic<int> counter{0};
        log_path_ = "/tmp/osprey-netns-" + std::to_string(::getpid()) + "-" + std::to_string(node) + "-" +
                    std::to_string(counter++) + ".log";
        pid_ = lab.spawn(node, args, log_path_);
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(start_ms);
        for (;;) {
            if (lab.tcp_probe(node, lab.ip(node), port, 200) == 0 &&
                (http_port <= 0 || lab.tcp_probe(node, lab.ip(node), http_port, 200) == 0))
                return;
            if (!lab.alive(pid_)) {
                const int st = lab.stop(pid_);  // the recorded exit status
                pid_ = -1;
                throw std::runtime_error(binary + " exited at start (status " + std::to_string(st) + "): " + log());
            }
            if (std::chrono::steady_clock::now() >= end) {
                stop(SIGKILL);
                throw std::runtime_error("server did not start listening: " + log());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    NsServerProcess(const NsServerProcess&) = delete;
    NsServerProcess& operator=(const NsServerProcess&) = delete;

    ~NsServerProcess() {
        stop();
#ifdef OSPREY_GTEST
        const std::string l = log();
        for (const char* what : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
            const auto at = l.find(what);
            if (at != std::string::npos) ADD_FAILURE() << "server log: " << l.substr(at, 6000);
        }
#endif
    }

    int node() const { return node_; }
    pid_t pid() const { return pid_; }
    int port() const { return port_; }
    int http_port() const { return http_port_; }
    std::string ip() const { return lab_.ip(node_); }
    std::string url() const { return "nats://" + ip() + ":" + std::to_string(port_); }
    std::string log() const {
        std::ifstream f(log_path_);
        return std::string(std::istreambuf_iterator<char>(f), {});
    }
    const std::string& log_path() const { return log_path_; }

    // The monitor, fetched from inside the server's own namespace (so never cut by a partition).
    std::string http_get(const std::string& path, int timeout_ms = 2000) {
        return lab_.http_get(node_, ip(), http_port_, path, timeout_ms);
    }

    // Sends sig, waits (bounded), SIGKILLs if needed; the exit status (ServerProcess's convention).
    int stop(int sig = SIGTERM, int wait_ms = 5000) {
        if (pid_ <= 0) return -1;
        const int st = lab_.stop(pid_, sig, wait_ms);
        pid_ = -1;
        return st;
    }
    bool running() { return pid_ > 0 && lab_.alive(pid_); }
    void pause() { lab_.pause(pid_); }
    void resume() { lab_.resume(pid_); }

private:
    NetnsLab& lab_;
    int node_;
    int port_, http_port_;
    pid_t pid_ = -1;
    std::string log_path_;
};

}  // namespace osprey::testing
