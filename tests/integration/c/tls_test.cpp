// TLS on client connections with the nats.c client: a top-level `tls {}` block (INFO in the
// clear with tls_required, then the handshake, as nats-server 2.9.10). Server verification by
// the client (trusted CA, another CA, an expired certificate, the expected hostname), client
// certificates (`verify`), users from certificates (`verify_and_map`) with their permissions,
// what nats.c does without natsOptions_SetSecure, and a reconnect after a restart on the same
// port. Every case runs against osprey and nats-server 2.9.10 (Servers/Tls.*/osprey, .../nats)
// and expects the same there.
//
// The certificates are made at run time with the `openssl` CLI into a temp dir (never
// committed), once per test process, EC P-256 keys (as tests/integration/js/transport/certs.mjs):
//
//   ca          O=Osprey Test, CN=Osprey Test CA (self-signed)
//   other-ca    O=Other Test, CN=Other Test CA (self-signed, unrelated to ca)
//   server      CN=localhost, SAN DNS:localhost, IP:127.0.0.1, by ca
//   wronghost   CN=wronghost.example, SAN DNS:wronghost.example only, by ca
//   expired     CN=localhost, SAN DNS:localhost, IP:127.0.0.1, by ca, valid 2020-01-01..02 only
//   alice       O=Osprey, OU=eng, CN=alice (Go prints "CN=alice,OU=eng,O=Osprey"), by ca
//   other-alice the same subject, by other-ca
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "c/nats_helpers.h"

using namespace osprey::testing;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

std::string read_all(const std::string& path) {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs `argv` (argv[0] an absolute path) with stdout and stderr to `out_path`, in `cwd`, with
// `env`; waits at most `wait_ms`. Returns the exit status (-1: killed after the bound). All
// the child's strings are made before the fork (the process may have nats.c threads).
int run_bounded(const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::string& cwd, const std::string& out_path, int wait_ms = 20000) {
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        if (::chdir(cwd.c_str()) != 0) ::_exit(126);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    int status = 0;
    for (int i = 0; i < wait_ms / 10; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        std::this_thread::sleep_for(10ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
}

std::string find_openssl() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string d; std::getline(dirs, d, ':');)
        if (!d.empty() && ::access((d + "/openssl").c_str(), X_OK) == 0) return d + "/openssl";
    return {};
}

// The openssl configuration: the request's empty DN, the extensions of each kind of
// certificate, and a minimal `openssl ca` set-up for the expired one ("openssl x509 -req" of
// OpenSSL 3.0 cannot put a validity in the past).
constexpr const char* kOpensslCnf = R"(
[ req ]
distinguished_name = req_dn
[ req_dn ]

[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ server_localhost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ server_wronghost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wronghost.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_plain ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ expired_ca ]
database = $ENV::CERTS_DIR/index.txt
new_certs_dir = $ENV::CERTS_DIR
serial = $ENV::CERTS_DIR/serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[ policy_any ]
commonName = supplied
)";

struct KeyPair {
    std::string cert, key;
};

// The test PKI, in a fresh temp dir removed at the end.
class Pki {
public:
    Pki() {
        openssl_ = find_openssl();
        if (openssl_.empty()) throw std::runtime_error("openssl not found in PATH");
        char tmpl[] = "/tmp/osprey-tls-certs-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        cnf_ = dir_ + "/openssl.cnf";
        std::ofstream(cnf_) << kOpensslCnf;
        ca = self_signed("ca", "/O=Osprey Test/CN=Osprey Test CA");
        other_ca = self_signed("other-ca", "/O=Other Test/CN=Other Test CA");
        server = signed_by(ca, "server", "/CN=localhost", "server_localhost");
        wronghost = signed_by(ca, "wronghost", "/CN=wronghost.example", "server_wronghost");
        expired = expired_by(ca, "expired", "/CN=localhost");
        alice = signed_by(ca, "alice", "/O=Osprey/OU=eng/CN=alice", "client_plain");
        other_alice = signed_by(other_ca, "other-alice", "/O=Osprey/OU=eng/CN=alice", "client_plain");
    }
    ~Pki() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    const std::string& dir() const { return dir_; }

    KeyPair ca, other_ca, server, wronghost, expired, alice, other_alice;

private:
    void openssl(std::vector<std::string> args) {
        args.insert(args.begin(), openssl_);
        const std::string out = dir_ + "/openssl.out";
        const int rc = run_bounded(args, {"CERTS_DIR=" + dir_, "OPENSSL_CONF=" + cnf_, "PATH=/usr/bin:/bin"},
                                   dir_, out);
        if (rc != 0) {
            std::string cmd;
            for (auto& a : args) cmd += a + " ";
            throw std::runtime_error(cmd + "failed (" + std::to_string(rc) + "): " + read_all(out));
        }
    }
    std::string new_key(const std::string& name) {
        const std::string key = dir_ + "/" + name + ".key";
        openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key});
        return key;
    }
    // A positive 64-bit serial, as hex.
    std::string new_serial() {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx",
                      static_cast<unsigned long long>((rng_() & 0x0fffffffffffffffULL) | 0x1000000000000000ULL));
        return buf;
    }
    std::string csr(const std::string& name, const std::string& subject, std::string* key) {
        *key = new_key(name);
        const std::string req = dir_ + "/" + name + ".csr";
        openssl({"req", "-new", "-key", *key, "-subj", subject, "-config", cnf_, "-out", req});
        return req;
    }
    KeyPair self_signed(const std::string& name, const std::string& subject) {
        KeyPair kp{dir_ + "/" + name + ".pem", new_key(name)};
        openssl({"req", "-x509", "-new", "-key", kp.key, "-subj", subject, "-days", "3", "-set_serial",
                 "0x" + new_serial(), "-config", cnf_, "-extensions", "v3_ca", "-sha256", "-out", kp.cert});
        return kp;
    }
    KeyPair signed_by(const KeyPair& issuer, const std::string& name, const std::string& subject,
                      const std::string& extensions) {
        KeyPair kp;
        const std::string req = csr(name, subject, &kp.key);
        kp.cert = dir_ + "/" + name + ".pem";
        openssl({"x509", "-req", "-in", req, "-CA", issuer.cert, "-CAkey", issuer.key, "-set_serial",
                 "0x" + new_serial(), "-days", "3", "-sha256", "-extfile", cnf_, "-extensions", extensions,
                 "-out", kp.cert});
        return kp;
    }
    KeyPair expired_by(const KeyPair& issuer, const std::string& name, const std::string& subject) {
        KeyPair kp;
        const std::string req = csr(name, subject, &kp.key);
        kp.cert = dir_ + "/" + name + ".pem";
        std::ofstream(dir_ + "/index.txt").flush();
        std::ofstream(dir_ + "/serial") << new_serial() << "\n";
        openssl({"ca", "-batch", "-config", cnf_, "-name", "expired_ca", "-cert", issuer.cert, "-keyfile",
                 issuer.key, "-in", req, "-out", kp.cert, "-notext", "-startdate", "20200101000000Z",
                 "-enddate", "20200102000000Z", "-extensions", "server_localhost", "-extfile", cnf_});
        return kp;
    }

    std::string openssl_, dir_, cnf_;
    std::mt19937_64 rng_{std::random_device{}()};
};

// A server on a port of the test's choosing, started again on the same port after a stop
// (ServerProcess picks a fresh port at each start): `bin -a 127.0.0.1 -p port extra...`.
class FixedPortServer {
public:
    FixedPortServer(std::string bin, int port, std::vector<std::string> extra)
        : bin_(std::move(bin)), port_(port), extra_(std::move(extra)) {}
    ~FixedPortServer() {
        stop();
        // As ServerProcess: a sanitizer build's report in the log fails the test.
        for (const std::string& path : logs_) {
            const std::string l = read_all(path);
            for (const char* what : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
                const auto at = l.find(what);
                if (at != std::string::npos) ADD_FAILURE() << "server log: " << l.substr(at, 6000);
            }
            std::remove(path.c_str());
        }
    }
    // Starts and waits (bounded) for "Listening for client connections on 127.0.0.1:port".
    // The port of a server just stopped may still be busy for a moment: a few attempts.
    void start() {
        for (int attempt = 1;; ++attempt) {
            if (launch()) return;
            const std::string l = log();
            const bool busy = l.find("address already in use") != std::string::npos ||
                              l.find("Address already in use") != std::string::npos;
            if (attempt == 20 || !busy)
                throw std::runtime_error("server did not start on port " + std::to_string(port_) + ": " + l);
            std::this_thread::sleep_for(100ms);
        }
    }
    void stop(int wait_ms = 5000) {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        for (int i = 0; i < wait_ms / 10; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
    std::string log() const { return logs_.empty() ? std::string() : read_all(logs_.back()); }

private:
    bool launch() {
        std::vector<std::string> args{bin_, "-a", "127.0.0.1", "-p", std::to_string(port_)};
        args.insert(args.end(), extra_.begin(), extra_.end());
        logs_.push_back("/tmp/osprey-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(port_) + "-" +
                        std::to_string(logs_.size()) + ".log");
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const std::string& log_path = logs_.back();
        const std::string ready = "Listening for client connections on 127.0.0.1:" + std::to_string(port_) + "\n";
        pid_ = ::fork();
        if (pid_ == 0) {
            const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        for (int i = 0; i < 1000; ++i) {
            if (port_open(port_) && log().find(ready) != std::string::npos) return true;
            int status;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            std::this_thread::sleep_for(10ms);
        }
        stop();
        return false;
    }

    std::string bin_;
    int port_;
    std::vector<std::string> extra_;
    pid_t pid_ = -1;
    std::vector<std::string> logs_;
};

// The async errors of a connection (permission violations), in order, and its reconnects.
struct Events {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> errors;
    int disconnects = 0, reconnects = 0;
    bool closed = false;

    static void on_error(natsConnection* nc, natsSubscription*, natsStatus, void* closure) {
        auto* self = static_cast<Events*>(closure);
        const char* text = nullptr;
        natsConnection_GetLastError(nc, &text);
        std::lock_guard lk(self->mu);
        self->errors.push_back(text ? text : "");
        self->cv.notify_all();
    }
    static void on_disconnected(natsConnection*, void* closure) {
        auto* self = static_cast<Events*>(closure);
        std::lock_guard lk(self->mu);
        ++self->disconnects;
        self->cv.notify_all();
    }
    static void on_reconnected(natsConnection*, void* closure) {
        auto* self = static_cast<Events*>(closure);
        std::lock_guard lk(self->mu);
        ++self->reconnects;
        self->cv.notify_all();
    }
    static void on_closed(natsConnection*, void* closure) {
        auto* self = static_cast<Events*>(closure);
        std::lock_guard lk(self->mu);
        self->closed = true;
        self->cv.notify_all();
    }
    // Sets every callback of these options to this object (also the closed one, for CloseWaiter).
    void attach(natsOptions* o) {
        natsOptions_SetErrorHandler(o, &Events::on_error, this);
        natsOptions_SetDisconnectedCB(o, &Events::on_disconnected, this);
        natsOptions_SetReconnectedCB(o, &Events::on_reconnected, this);
        natsOptions_SetClosedCB(o, &Events::on_closed, this);
    }
    template <class Pred>
    bool wait(std::chrono::milliseconds within, Pred pred) {
        std::unique_lock lk(mu);
        return cv.wait_for(lk, within, [&] { return pred(*this); });
    }
    std::vector<std::string> errors_now() {
        std::lock_guard lk(mu);
        return errors;
    }
};

// Destroys a connection whose callbacks go to `ev`, and waits (bounded) for its closed
// callback: nats.c calls the disconnected and closed callbacks from its own thread after
// natsConnection_Destroy returns, so `ev` must outlive them. Declared right after the
// connection, so that it runs first, also when an assertion ends the test early.
struct CloseWaiter {
    Conn& c;
    Events& ev;
    ~CloseWaiter() {
        if (!c) return;
        c.reset();
        if (!ev.wait(5s, [](Events& e) { return e.closed; })) ADD_FAILURE() << "no closed callback within 5 s";
    }
};

std::string status_text(natsStatus s) {
    return std::string(natsStatus_GetText(s)) + " (" + std::to_string(int(s)) + ")";
}

std::string last_error() {
    natsStatus s = NATS_OK;
    const char* t = nats_GetLastError(&s);
    return t ? t : "";
}

class Tls : public ::testing::TestWithParam<std::string> {
protected:
    static void SetUpTestSuite() {
        if (pki_) return;
        try {
            pki_ = new Pki();
        } catch (const std::exception& e) {
            pki_error_ = e.what();
        }
    }
    static void TearDownTestSuite() {
        delete pki_;
        pki_ = nullptr;
    }
    void SetUp() override {
        if (!pki_) GTEST_FAIL() << "the test certificates could not be made: " << pki_error_;
    }
    static const Pki& pki() { return *pki_; }

    struct Block {
        const KeyPair* server = nullptr;  // the server certificate (default: pki().server)
        bool ca = false, verify = false, verify_and_map = false;
        std::string extra;  // more configuration after the block
    };
    // A config file with a `tls {}` block.
    std::string config(const Block& b) {
        const KeyPair& s = b.server ? *b.server : pki().server;
        std::string text = "tls {\n  cert_file: \"" + s.cert + "\"\n  key_file: \"" + s.key + "\"\n";
        if (b.ca) text += "  ca_file: \"" + pki().ca.cert + "\"\n";
        if (b.verify) text += "  verify: true\n";
        if (b.verify_and_map) text += "  verify_and_map: true\n";
        text += "  timeout: 2\n}\n" + b.extra;
        const std::string path = pki().dir() + "/server-" + std::to_string(configs_++) + ".conf";
        std::ofstream(path) << text;
        return path;
    }
    std::unique_ptr<ServerProcess> start(const Block& b) {
        return std::make_unique<ServerProcess>(GetParam(), std::vector<std::string>{"-c", config(b)});
    }
    // Options for a TLS client of `url`: secure, trusting `ca` (null: nothing loaded),
    // presenting `client` (null: no certificate).
    Opts tls_opts(const std::string& url, const KeyPair* ca, const KeyPair* client = nullptr) {
        Opts o = make_opts(url);
        EXPECT_EQ(natsOptions_SetSecure(o.get(), true), NATS_OK);
        if (ca) {
            EXPECT_EQ(natsOptions_LoadCATrustedCertificates(o.get(), ca->cert.c_str()), NATS_OK) << last_error();
        }
        if (client) {
            EXPECT_EQ(natsOptions_LoadCertificatesChain(o.get(), client->cert.c_str(), client->key.c_str()), NATS_OK)
                << last_error();
        }
        return o;
    }
    Conn tls_connect(const std::string& url, const KeyPair* client = nullptr, natsStatus* st = nullptr) {
        Opts o = tls_opts(url, &pki().ca, client);
        return connect_with(o.get(), st);
    }

    static inline Pki* pki_ = nullptr;
    static inline std::string pki_error_;
    int configs_ = 0;
};

// A client certificate refused by the server (`verify`): with TLS 1.3 the client finishes its
// side of the handshake before the server checks the certificate, so nats.c learns of the
// refusal only at its CONNECT: the write fails (NATS_IO_ERROR, "SSL_write error") or the read of
// the PONG finds the connection closed (NATS_PROTOCOL_ERROR, "Expected 'PONG', got ''"). Which
// one is a race with the server's alert and close: nats-server 2.9.10 gives either for a
// certificate from another CA, osprey and nats-server the second for a missing certificate.
bool refused_after_handshake(natsStatus s) { return s == NATS_PROTOCOL_ERROR || s == NATS_IO_ERROR; }

// Pub/sub and request/reply between two connections.
void round_trip(natsConnection* a, natsConnection* b, const std::string& tag) {
    const std::string note = "rt." + tag + ".note", svc = "rt." + tag + ".svc";
    Sub notes = subscribe_sync(a, note.c_str());
    Sub service = subscribe_sync(b, svc.c_str());
    ASSERT_TRUE(notes && service);
    ASSERT_EQ(natsConnection_Flush(a), NATS_OK);
    ASSERT_EQ(natsConnection_Flush(b), NATS_OK);
    ASSERT_EQ(natsConnection_PublishString(b, note.c_str(), "one"), NATS_OK);
    ASSERT_EQ(natsConnection_PublishString(b, note.c_str(), "two"), NATS_OK);
    ASSERT_EQ(natsConnection_Flush(b), NATS_OK);
    Msg m1 = next(notes.get(), 3000);
    Msg m2 = next(notes.get(), 3000);
    ASSERT_TRUE(m1 && m2);
    EXPECT_EQ(data(m1.get()), "one");
    EXPECT_EQ(data(m2.get()), "two");
    std::thread responder([&] {
        Msg req = next(service.get(), 3000);
        if (req) {
            const std::string answer = "re:" + data(req.get());
            natsConnection_PublishString(b, natsMsg_GetReply(req.get()), answer.c_str());
        }
    });
    natsMsg* reply = nullptr;
    const natsStatus st = natsConnection_RequestString(&reply, a, svc.c_str(), "ping", 3000);
    responder.join();
    ASSERT_EQ(st, NATS_OK) << status_text(st);
    Msg r(reply);
    EXPECT_EQ(data(r.get()), "re:ping");
}

// 1. A TLS client trusting the CA: INFO in the clear with tls_required, the connection is TLS
// (/connz), and pub/sub/request work over it.
TEST_P(Tls, ConnectWithTrustedCaAndRoundTrip) {
    auto srv = start({});
    {
        RawConn raw(srv->port());
        const std::string info = raw.read("\r\n");
        EXPECT_EQ(info.rfind("INFO {", 0), 0u) << info;
        EXPECT_NE(info.find("\"tls_required\":true"), std::string::npos) << info;
        EXPECT_EQ(info.find("\"tls_verify\""), std::string::npos) << "no tls_verify without verify: " << info;
    }
    natsStatus st;
    Conn a = tls_connect(srv->url(), nullptr, &st);
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error() << "\n" << srv->log();
    Conn b = tls_connect(srv->url(), nullptr, &st);
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error();
    char url[256];
    ASSERT_EQ(natsConnection_GetConnectedUrl(a.get(), url, sizeof url), NATS_OK);
    EXPECT_EQ(std::string(url), srv->url());
    round_trip(a.get(), b.get(), "trusted");
    // The server sees both as TLS connections.
    const std::string connz = http_get(srv->http_port(), "/connz");
    std::size_t n = 0;
    for (auto at = connz.find("\"tls_version\""); at != std::string::npos; at = connz.find("\"tls_version\"", at + 1))
        ++n;
    EXPECT_EQ(n, 2u) << connz;
    EXPECT_NE(connz.find("\"tls_cipher_suite\""), std::string::npos) << connz;
}

// 2. No natsOptions_SetSecure, but the server requires TLS: nats.c reads tls_required in the
// INFO and switches to TLS by itself. With nothing trusted (no CA loaded, the system store does
// not know the test CA) the server's certificate fails verification; with the CA loaded (but
// still no SetSecure) the connection succeeds, over TLS.
TEST_P(Tls, WithoutSetSecureNatsCUpgradesByItself) {
    auto srv = start({});
    natsStatus st;
    {
        Opts o = make_opts(srv->url());
        Conn c = connect_with(o.get(), &st);
        EXPECT_EQ(st, NATS_SSL_ERROR) << status_text(st) << " " << last_error();
        EXPECT_FALSE(c);
    }
    {
        Opts o = make_opts(srv->url());
        ASSERT_EQ(natsOptions_LoadCATrustedCertificates(o.get(), pki().ca.cert.c_str()), NATS_OK) << last_error();
        Conn c = connect_with(o.get(), &st);
        ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error();
        Conn b = tls_connect(srv->url(), nullptr, &st);
        ASSERT_EQ(st, NATS_OK) << status_text(st);
        round_trip(c.get(), b.get(), "upgraded");
        const std::string connz = http_get(srv->http_port(), "/connz");
        EXPECT_NE(connz.find("\"tls_version\""), std::string::npos) << connz;
    }
}

// 3. The client trusts another CA: the server's certificate is refused by the client.
TEST_P(Tls, WrongCaOnTheClientFails) {
    auto srv = start({});
    natsStatus st;
    Opts o = tls_opts(srv->url(), &pki().other_ca);
    Conn c = connect_with(o.get(), &st);
    EXPECT_EQ(st, NATS_SSL_ERROR) << status_text(st) << " " << last_error();
    EXPECT_FALSE(c);
    // The server stays up for a client that trusts the right CA.
    Conn ok = tls_connect(srv->url(), nullptr, &st);
    EXPECT_EQ(st, NATS_OK) << status_text(st) << " " << last_error();
}

// 4a. An expired server certificate is refused by the client.
TEST_P(Tls, ExpiredServerCertificateFails) {
    Block b;
    b.server = &pki().expired;
    auto srv = start(b);
    natsStatus st;
    Conn c = tls_connect(srv->url(), nullptr, &st);
    EXPECT_EQ(st, NATS_SSL_ERROR) << status_text(st) << " " << last_error();
    EXPECT_FALSE(c);
}

// 4b. natsOptions_SetExpectedHostname("localhost"): the certificate for localhost passes, the
// one for wronghost.example only does not.
TEST_P(Tls, ExpectedHostnameIsChecked) {
    natsStatus st;
    {
        auto srv = start({});
        Opts o = tls_opts(srv->url(), &pki().ca);
        ASSERT_EQ(natsOptions_SetExpectedHostname(o.get(), "localhost"), NATS_OK);
        Conn c = connect_with(o.get(), &st);
        EXPECT_EQ(st, NATS_OK) << status_text(st) << " " << last_error();
        if (c) {
            Sub s = subscribe_sync(c.get(), "host.ok");
            EXPECT_EQ(natsConnection_PublishString(c.get(), "host.ok", "x"), NATS_OK);
            EXPECT_TRUE(next(s.get(), 3000));
        }
    }
    {
        Block b;
        b.server = &pki().wronghost;
        auto srv = start(b);
        Opts o = tls_opts(srv->url(), &pki().ca);
        ASSERT_EQ(natsOptions_SetExpectedHostname(o.get(), "localhost"), NATS_OK);
        Conn c = connect_with(o.get(), &st);
        EXPECT_EQ(st, NATS_SSL_ERROR) << status_text(st) << " " << last_error();
        EXPECT_FALSE(c);
    }
}

// 5. verify: true: a client certificate is required and must come from the CA.
TEST_P(Tls, VerifyRequiresAClientCertificateFromTheCa) {
    Block b;
    b.ca = b.verify = true;
    auto srv = start(b);
    {
        RawConn raw(srv->port());
        const std::string info = raw.read("\r\n");
        EXPECT_NE(info.find("\"tls_required\":true"), std::string::npos) << info;
        EXPECT_NE(info.find("\"tls_verify\":true"), std::string::npos) << info;
    }
    natsStatus st;
    {
        Conn none = tls_connect(srv->url(), nullptr, &st);
        EXPECT_TRUE(refused_after_handshake(st)) << status_text(st) << " " << last_error();
        EXPECT_FALSE(none);
    }
    {
        Conn other = tls_connect(srv->url(), &pki().other_alice, &st);
        EXPECT_TRUE(refused_after_handshake(st)) << status_text(st) << " " << last_error();
        EXPECT_FALSE(other);
    }
    Conn a = tls_connect(srv->url(), &pki().alice, &st);
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error() << "\n" << srv->log();
    Conn b2 = tls_connect(srv->url(), &pki().alice, &st);
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error();
    round_trip(a.get(), b2.get(), "verified");
}

// 6. verify_and_map: the certificate's subject names the user, whose permissions apply.
TEST_P(Tls, VerifyAndMapAppliesTheMappedUsersPermissions) {
    Block b;
    b.ca = b.verify_and_map = true;
    b.extra = R"(authorization {
  users = [
    {user: "CN=alice,OU=eng,O=Osprey", permissions: {publish: "alice.>", subscribe: "_INBOX.>"}}
  ]
}
)";
    auto srv = start(b);
    natsStatus st;
    {
        // Without a certificate there is no user.
        Conn none = tls_connect(srv->url(), nullptr, &st);
        EXPECT_TRUE(refused_after_handshake(st)) << status_text(st) << " " << last_error();
        EXPECT_FALSE(none);
    }
    Events ev;
    Opts o = tls_opts(srv->url(), &pki().ca, &pki().alice);
    ev.attach(o.get());
    Conn alice = connect_with(o.get(), &st);
    CloseWaiter close_first{alice, ev};
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error() << "\n" << srv->log();
    const std::string connz = http_get(srv->http_port(), "/connz?auth=1");
    EXPECT_NE(connz.find("\"authorized_user\": \"CN=alice,OU=eng,O=Osprey\""), std::string::npos) << connz;

    Sub inbox = subscribe_sync(alice.get(), "_INBOX.alice");
    EXPECT_EQ(natsConnection_PublishString(alice.get(), "alice.ok", "allowed"), NATS_OK);
    EXPECT_EQ(natsConnection_Flush(alice.get()), NATS_OK);
    EXPECT_EQ(natsConnection_PublishString(alice.get(), "bob.x", "denied"), NATS_OK);
    // The violation comes back asynchronously (-ERR, the connection stays): the flush itself
    // succeeds, the error handler and natsConnection_GetLastError carry the text.
    EXPECT_EQ(natsConnection_Flush(alice.get()), NATS_OK);
    EXPECT_TRUE(ev.wait(5s, [](Events& e) { return !e.errors.empty(); })) << "no async error";
    const auto errors = ev.errors_now();
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("Permissions Violation for Publish to \"bob.x\""), std::string::npos) << errors[0];
    const char* text = nullptr;
    EXPECT_EQ(natsConnection_GetLastError(alice.get(), &text), NATS_NOT_PERMITTED);
    EXPECT_NE(std::string(text ? text : "").find("Permissions Violation for Publish to \"bob.x\""),
              std::string::npos);
    EXPECT_EQ(natsConnection_Status(alice.get()), NATS_CONN_STATUS_CONNECTED);
    // Still usable after the violation.
    EXPECT_EQ(natsConnection_Flush(alice.get()), NATS_OK);
}

// 7. A TLS client with reconnects: the server is stopped and started again on the same port
// with the same config; the client reconnects over TLS, its subscription is replayed, and a
// round trip works.
TEST_P(Tls, ReconnectsAfterARestartOnTheSamePort) {
    const std::string cfg = config({});
    const int port = free_port();
    FixedPortServer srv(GetParam(), port, {"-c", cfg});
    srv.start();

    Events ev;
    Opts o = tls_opts(srv.url(), &pki().ca);
    natsOptions_SetAllowReconnect(o.get(), true);
    natsOptions_SetMaxReconnect(o.get(), 100);
    natsOptions_SetReconnectWait(o.get(), 100);
    natsOptions_SetReconnectJitter(o.get(), 0, 0);
    ev.attach(o.get());
    natsStatus st;
    Conn a = connect_with(o.get(), &st);
    CloseWaiter close_first{a, ev};
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error() << "\n" << srv.log();
    Sub after = subscribe_sync(a.get(), "after.restart");
    ASSERT_EQ(natsConnection_Flush(a.get()), NATS_OK);

    srv.stop();
    EXPECT_TRUE(ev.wait(5s, [](Events& e) { return e.disconnects > 0; })) << "no disconnect seen";
    srv.start();
    ASSERT_TRUE(ev.wait(10s, [](Events& e) { return e.reconnects > 0; }))
        << "no reconnect; status " << int(natsConnection_Status(a.get())) << "\n" << srv.log();
    EXPECT_EQ(natsConnection_Status(a.get()), NATS_CONN_STATUS_CONNECTED);
    ASSERT_EQ(natsConnection_Flush(a.get()), NATS_OK);

    Conn b = tls_connect(srv.url(), nullptr, &st);
    ASSERT_EQ(st, NATS_OK) << status_text(st) << " " << last_error();
    ASSERT_EQ(natsConnection_PublishString(b.get(), "after.restart", "back"), NATS_OK);
    ASSERT_EQ(natsConnection_Flush(b.get()), NATS_OK);
    Msg m = next(after.get(), 3000);
    ASSERT_TRUE(m) << "the subscription was not replayed on the new connection";
    EXPECT_EQ(data(m.get()), "back");
    round_trip(a.get(), b.get(), "reconnected");
}

std::vector<std::string> tls_servers() {
    std::vector<std::string> v{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) v.push_back(NATS_SERVER_BIN);
    return v;
}

INSTANTIATE_TEST_SUITE_P(Servers, Tls, ::testing::ValuesIn(tls_servers()),
                         [](const auto& info) { return info.param == OSPREY_BIN ? "osprey" : "nats"; });

}  // namespace
