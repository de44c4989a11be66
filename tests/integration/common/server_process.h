// Starts a real osprey (or nats-server) process on free loopback ports for a test, and stops
// it by PID when the test ends. Header-only: used by the C-client tests and benchmarks.
#pragma once
#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifdef OSPREY_GTEST
#include <gtest/gtest.h>
#endif

namespace osprey::testing {

inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

inline bool port_open(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

class ServerProcess {
public:
    // `binary`: path to osprey or nats-server; `extra`: more arguments (e.g. "-c", file).
    // A port found free can be taken by a parallel test before the server binds it: then the
    // server exits at start, and it is started again on fresh ports (bounded).
    ServerProcess(const std::string& binary, std::vector<std::string> extra = {},
                  bool with_monitor = true) {
        for (int attempt = 1;; ++attempt) {
            port_ = free_port();
            http_port_ = with_monitor ? free_port() : 0;
            try {
                launch(binary, extra, with_monitor);
                return;
            } catch (const std::runtime_error& e) {
                if (attempt == 3 || std::string(e.what()).find("Address already in use") == std::string::npos)
                    throw;
            }
        }
    }

private:
    void launch(const std::string& binary, const std::vector<std::string>& extra, bool with_monitor) {
        std::vector<std::string> args{binary, "-a", "127.0.0.1", "-p", std::to_string(port_)};
        if (with_monitor) {
            args.push_back("-m");
            args.push_back(std::to_string(http_port_));
        }
        args.insert(args.end(), extra.begin(), extra.end());
        log_path_ = "/tmp/osprey-test-" + std::to_string(::getpid()) + "-" +
                    std::to_string(port_) + ".log";
        pid_ = ::fork();
        if (pid_ == 0) {
            FILE* f = std::fopen(log_path_.c_str(), "w");
            if (f) {
                ::dup2(fileno(f), 1);
                ::dup2(fileno(f), 2);
            }
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        // The port answering is not enough: a parallel test's server may have taken it, and
        // ours then exits at start. Ready is our own server saying it listens there (both
        // osprey and nats-server log it), unless its log goes elsewhere (-l).
        const bool logs_here = std::find(extra.begin(), extra.end(), "-l") == extra.end();
        for (int i = 0; i < 500; ++i) {
            if (port_open(port_) && (!with_monitor || port_open(http_port_)) &&
                (!logs_here || says_listening()))
                return;
            int status;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("server exited at start: " + log());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        stop();
        throw std::runtime_error("server did not start listening");
    }

    bool says_listening() const {
        const std::string l = log(), what = "Listening for client connections on ";
        const std::string port_end = ":" + std::to_string(port_) + "\n";
        for (auto at = l.find(what); at != std::string::npos; at = l.find(what, at + 1)) {
            const auto eol = l.find('\n', at);
            if (eol != std::string::npos && l.compare(eol + 1 - port_end.size(), port_end.size(), port_end) == 0)
                return true;
        }
        return false;
    }

public:
    ~ServerProcess() {
        stop();
#ifdef OSPREY_GTEST
        // A sanitizer build reports leaks and errors in the server's log at exit: each one
        // fails the test that ran the server.
        const std::string l = log();
        for (const char* what : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
            const auto at = l.find(what);
            if (at != std::string::npos) ADD_FAILURE() << "server log: " << l.substr(at, 6000);
        }
#endif
    }

    int port() const { return port_; }
    int http_port() const { return http_port_; }
    pid_t pid() const { return pid_; }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
    std::string log() const {
        std::ifstream f(log_path_);
        return std::string(std::istreambuf_iterator<char>(f), {});
    }

    // Sends `sig` and waits (bounded) for the exit; returns the exit status or -1.
    int stop(int sig = SIGTERM, int wait_ms = 5000) {
        if (pid_ <= 0) return -1;
        ::kill(pid_, sig);
        int status = 0;
        for (int i = 0; i < wait_ms / 10; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
    }

    // Waits (bounded) for the server to exit by itself (lame duck, fatal error); true if it did.
    bool wait_exit(int wait_ms) {
        if (pid_ <= 0) return true;
        int status = 0;
        for (int i = 0; i < wait_ms / 10; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

private:
    int port_ = 0;
    int http_port_ = 0;
    pid_t pid_ = -1;
    std::string log_path_;
};

// A tiny HTTP GET for the monitor endpoints.
struct HttpReply {
    int status = 0;
    std::string body;
};

// A blocking HTTP/1.1 request on a fresh connection (a 15 s receive timeout).
inline HttpReply http_request(int port, const std::string& method, const std::string& path,
                              const std::string& body = "") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{15, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    HttpReply r;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return r;
    }
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!body.empty() || method != "GET")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, std::size_t(n));
    ::close(fd);
    if (out.size() > 12) r.status = std::atoi(out.c_str() + 9);
    const auto at = out.find("\r\n\r\n");
    r.body = at == std::string::npos ? out : out.substr(at + 4);
    return r;
}

// A tiny HTTP GET for the monitor endpoints: the body.
inline std::string http_get(int port, const std::string& path) { return http_request(port, "GET", path).body; }

// A raw protocol connection, for what client libraries hide.
class RawConn {
public:
    explicit RawConn(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port));
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("connect failed");
        timeval tv{0, 200000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~RawConn() { ::close(fd_); }
    void send(const std::string& s) { ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
    // Reads until `until` appears, the peer closes, or about `ms` pass.
    std::string read(const std::string& until = "", int ms = 2000) {
        std::string out;
        char buf[65536];
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < deadline) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0) {
                closed_ = true;
                break;
            }
            if (n > 0) out.append(buf, std::size_t(n));
            if (!until.empty() && out.find(until) != std::string::npos) break;
        }
        return out;
    }
    bool closed() const { return closed_; }
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    bool closed_ = false;
};

}  // namespace osprey::testing
