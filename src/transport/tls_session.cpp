#include "transport/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

namespace osprey::transport {

namespace {

std::string error_text(SSL* ssl, int ret) {
    const int e = SSL_get_error(ssl, ret);
    std::string why;
    if (unsigned long code = ERR_get_error(); code != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        why = buf;
    } else if (e == SSL_ERROR_SYSCALL) {
        why = "EOF";
    } else {
        why = "SSL error " + std::to_string(e);
    }
    if (long v = SSL_get_verify_result(ssl); v != X509_V_OK && e == SSL_ERROR_SSL)
        why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
    ERR_clear_error();
    return why;
}

// The BIO between OpenSSL and the caller's buffers: reads come from the bytes being fed, writes
// are appended to the caller's string. No copy into or out of an intermediate buffer (a memory
// BIO copies both ways, and its reset clears its whole allocation each time).
struct Io {
    std::string_view in;
    std::string* out = nullptr;
};

int io_write(BIO* b, const char* data, int len) {
    auto* io = static_cast<Io*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (!io->out) {
        BIO_set_retry_write(b);
        return -1;
    }
    io->out->append(data, std::size_t(len));
    return len;
}

int io_read(BIO* b, char* buf, int len) {
    auto* io = static_cast<Io*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (io->in.empty()) {
        BIO_set_retry_read(b);  // "later", not end of file
        return -1;
    }
    const std::size_t n = std::min(io->in.size(), std::size_t(len));
    std::memcpy(buf, io->in.data(), n);
    io->in.remove_prefix(n);
    return int(n);
}

long io_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int io_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD* io_method() {
    static BIO_METHOD* m = [] {
        BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "osprey buffers");
        BIO_meth_set_write(x, io_write);
        BIO_meth_set_read(x, io_read);
        BIO_meth_set_ctrl(x, io_ctrl);
        BIO_meth_set_create(x, io_create);
        return x;
    }();
    return m;
}

// For the duration of one call: what OpenSSL reads and where it writes.
struct Bind {
    Io& io;
    Bind(Io& i, std::string_view in, std::string* out) : io(i) {
        io.in = in;
        io.out = out;
    }
    ~Bind() {
        io.in = {};
        io.out = nullptr;
    }
};

}  // namespace

struct TlsSession::IoState : Io {};

TlsSession::TlsSession(std::shared_ptr<const TlsContext> ctx)
    : ctx_(std::move(ctx)), io_(std::make_unique<IoState>()) {
    ssl_ = SSL_new(ctx_->native());
    BIO* bio = BIO_new(io_method());
    BIO_set_data(bio, static_cast<Io*>(io_.get()));
    SSL_set_bio(ssl_, bio, bio);  // the SSL owns it now
    SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Status TlsSession::feed(std::string_view raw, std::string& plain, std::string& send,
                                    std::string& error) {
    if (first_byte_ < 0 && !raw.empty()) first_byte_ = std::uint8_t(raw[0]);
    const std::size_t send_at = send.size();
    Bind bind(*io_, raw, &send);
    if (!established_) {
        const int r = SSL_do_handshake(ssl_);
        if (r != 1) {
            const int e = SSL_get_error(ssl_, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::Ok;
            error = error_text(ssl_, r);
            // The alert tells a TLS client why. A peer that never spoke TLS (its first byte is
            // not a handshake record, as a plain NATS client's CONNECT) gets nothing: Go sends
            // nothing then either, and the alert would be noise in its protocol.
            if (first_byte_ != 0x16) send.resize(send_at);
            return Status::Failed;
        }
        established_ = true;
    }
    for (;;) {
        // Into a stack buffer: growing `plain` by a record's size first would zero it each time.
        char buf[16384];
        const int r = SSL_read(ssl_, buf, int(sizeof buf));
        if (r > 0) {
            plain.append(buf, std::size_t(r));
            continue;
        }
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
        if (e == SSL_ERROR_ZERO_RETURN) return Status::PeerClosed;
        error = error_text(ssl_, r);
        return Status::Failed;
    }
    return Status::Ok;
}

void TlsSession::write(std::string_view plain, std::string& send) {
    // The BIO never fills: SSL_write takes everything at once.
    Bind bind(*io_, {}, &send);
    while (!plain.empty()) {
        const int n = SSL_write(ssl_, plain.data(), int(std::min<std::size_t>(plain.size(), 1 << 30)));
        if (n <= 0) {
            ERR_clear_error();
            break;
        }
        plain.remove_prefix(std::size_t(n));
    }
}

void TlsSession::shutdown(std::string& send) {
    if (!established_) return;
    Bind bind(*io_, {}, &send);
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
}

std::string TlsSession::version() const {
    switch (SSL_version(ssl_)) {
        case TLS1_3_VERSION: return "1.3";
        case TLS1_2_VERSION: return "1.2";
        case TLS1_1_VERSION: return "1.1";
        case TLS1_VERSION: return "1.0";
        default: return "Unknown";
    }
}

std::string TlsSession::cipher() const {
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
    if (!c) return {};
    const char* n = SSL_CIPHER_standard_name(c);
    return n ? n : SSL_CIPHER_get_name(c);
}

bool TlsSession::has_peer() const {
    X509* cert = SSL_get0_peer_certificate(ssl_);
    return cert != nullptr;
}

PeerCertificate TlsSession::peer() const {
    PeerCertificate p;
    X509* cert = SSL_get0_peer_certificate(ssl_);
    if (!cert) return p;
    const X509_NAME* name = X509_get_subject_name(cert);
    int set = -1;
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(e);
        std::string type;
        switch (OBJ_obj2nid(obj)) {
            case NID_countryName: type = "C"; break;
            case NID_organizationName: type = "O"; break;
            case NID_organizationalUnitName: type = "OU"; break;
            case NID_commonName: type = "CN"; break;
            case NID_serialNumber: type = "SERIALNUMBER"; break;
            case NID_localityName: type = "L"; break;
            case NID_stateOrProvinceName: type = "ST"; break;
            case NID_streetAddress: type = "STREET"; break;
            case NID_postalCode: type = "POSTALCODE"; break;
            case NID_domainComponent: type = "DC"; break;
            default: {
                char oid[128];
                OBJ_obj2txt(oid, sizeof oid, obj, 1);
                type = oid;
            }
        }
        unsigned char* utf8 = nullptr;
        const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        std::string value = n > 0 ? std::string(reinterpret_cast<char*>(utf8), std::size_t(n)) : std::string();
        OPENSSL_free(utf8);
        // Entries of one multi-valued RDN share a set number.
        const int s = X509_NAME_ENTRY_set(e);
        if (s != set || p.subject.empty()) p.subject.emplace_back();
        set = s;
        p.subject.back().emplace_back(std::move(type), std::move(value));
    }
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
            auto text = [](const ASN1_IA5STRING* s) {
                return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), std::size_t(ASN1_STRING_length(s)));
            };
            if (g->type == GEN_EMAIL) p.emails.push_back(text(g->d.rfc822Name));
            else if (g->type == GEN_DNS) p.dns_names.push_back(text(g->d.dNSName));
            else if (g->type == GEN_URI) p.uris.push_back(text(g->d.uniformResourceIdentifier));
        }
        GENERAL_NAMES_free(names);
    }
    return p;
}

}  // namespace osprey::transport
