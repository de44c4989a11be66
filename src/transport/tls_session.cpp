#include "transport/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

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

}  // namespace

TlsSession::TlsSession(std::shared_ptr<const TlsContext> ctx) : ctx_(std::move(ctx)) {
    ssl_ = SSL_new(ctx_->native());
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    // A memory BIO with nothing in it says "retry", not end of file.
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);  // the SSL owns both now
    SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

void TlsSession::drain(std::string& send) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(out_, &data);
    if (n > 0) {
        send.append(data, std::size_t(n));
        (void)BIO_reset(out_);
    }
}

TlsSession::Status TlsSession::feed(std::string_view raw, std::string& plain, std::string& send,
                                    std::string& error) {
    if (first_byte_ < 0 && !raw.empty()) first_byte_ = std::uint8_t(raw[0]);
    while (!raw.empty()) {
        const int w = BIO_write(in_, raw.data(), int(std::min<std::size_t>(raw.size(), 1 << 30)));
        if (w <= 0) {
            error = "memory BIO write failed";
            return Status::Failed;
        }
        raw.remove_prefix(std::size_t(w));
    }
    if (!established_) {
        const int r = SSL_do_handshake(ssl_);
        if (r != 1) {
            const int e = SSL_get_error(ssl_, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                drain(send);
                return Status::Ok;
            }
            error = error_text(ssl_, r);
            // The alert tells a TLS client why. A peer that never spoke TLS (its first byte is
            // not a handshake record, as a plain NATS client's CONNECT) gets nothing: Go sends
            // nothing then either, and the alert would be noise in its protocol.
            if (first_byte_ == 0x16) drain(send);
            else (void)BIO_reset(out_);
            return Status::Failed;
        }
        established_ = true;
    }
    for (;;) {
        const std::size_t at = plain.size();
        plain.resize(at + 16384);
        const int r = SSL_read(ssl_, plain.data() + at, 16384);
        if (r > 0) {
            plain.resize(at + std::size_t(r));
            continue;
        }
        plain.resize(at);
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
        drain(send);
        if (e == SSL_ERROR_ZERO_RETURN) return Status::PeerClosed;
        error = error_text(ssl_, r);
        return Status::Failed;
    }
    drain(send);
    return Status::Ok;
}

void TlsSession::write(std::string_view plain, std::string& send) {
    // A memory BIO never fills: SSL_write takes everything at once.
    while (!plain.empty()) {
        const int n = SSL_write(ssl_, plain.data(), int(std::min<std::size_t>(plain.size(), 1 << 30)));
        if (n <= 0) {
            ERR_clear_error();
            break;
        }
        plain.remove_prefix(std::size_t(n));
    }
    drain(send);
}

void TlsSession::shutdown(std::string& send) {
    if (!established_) return;
    (void)SSL_shutdown(ssl_);
    ERR_clear_error();
    drain(send);
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
