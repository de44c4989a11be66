// One TLS connection, the server's side, over the caller's buffers: the caller moves bytes between
// the socket and this object, so the socket keeps its non-blocking writes from any thread (see
// server/client.h) and the TLS state is touched only under the connection's write lock.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transport/tls_context.h"

struct ssl_st;

namespace osprey::transport {

// What a client certificate says, for verify_and_map.
struct PeerCertificate {
    std::vector<std::string> emails, dns_names, uris;
    // The subject's RDNs in certificate order, each a set of (type, value): types by their
    // LDAP names (C, O, OU, CN, L, ST, STREET, POSTALCODE, SERIALNUMBER, DC) or dotted OIDs.
    std::vector<std::vector<std::pair<std::string, std::string>>> subject;
};

class TlsSession {
public:
    explicit TlsSession(std::shared_ptr<const TlsContext> ctx);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    enum class Status { Ok, PeerClosed, Failed };
    // Bytes from the socket: application data is appended to `plain`, what TLS must send back
    // (handshake records, alerts, session tickets) to `send`. On Failed, `error` says why.
    Status feed(std::string_view raw, std::string& plain, std::string& send, std::string& error);
    // Application data to send: records appended to `send`. Only once established().
    void write(std::string_view plain, std::string& send);
    // A close_notify alert, for a clean close.
    void shutdown(std::string& send);
    bool established() const { return established_; }
    const TlsContext& context() const { return *ctx_; }

    std::string version() const;  // "1.3", as nats-server's /connz shows it
    std::string cipher() const;   // IANA name, "TLS_AES_128_GCM_SHA256"
    PeerCertificate peer() const;
    bool has_peer() const;

private:
    struct IoState;  // the BIO's view of the bytes being fed and of where output goes
    std::shared_ptr<const TlsContext> ctx_;
    std::unique_ptr<IoState> io_;
    ssl_st* ssl_;
    bool established_ = false;
    int first_byte_ = -1;  // the peer's first byte: 0x16 opens a TLS handshake
};

}  // namespace osprey::transport
