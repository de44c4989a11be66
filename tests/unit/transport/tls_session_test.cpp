// The server's TLS over memory buffers, against an OpenSSL client in the same process, with a
// key and certificate made at run time.
#include "transport/tls_session.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace osprey::transport {
namespace {

struct Files {
    std::filesystem::path dir, cert, key;
    Files() {
        char tmpl[] = "/tmp/osprey-tls-XXXXXX";
        dir = ::mkdtemp(tmpl);
        cert = dir / "cert.pem";
        key = dir / "key.pem";
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        X509* x = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Osprey"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, n);
        X509_sign(x, pkey, EVP_sha256());
        FILE* f = std::fopen(cert.c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        f = std::fopen(key.c_str(), "w");
        PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~Files() { std::filesystem::remove_all(dir); }
};

// An OpenSSL client over memory BIOs: what it writes goes to the server session and back.
struct Client {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl;
    BIO *in, *out;
    Client() {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        ssl = SSL_new(ctx);
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        SSL_set_connect_state(ssl);
    }
    ~Client() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    std::string take() {
        char* d = nullptr;
        long n = BIO_get_mem_data(out, &d);
        std::string s(d, std::size_t(n > 0 ? n : 0));
        (void)BIO_reset(out);
        return s;
    }
    void give(const std::string& s) { BIO_write(in, s.data(), int(s.size())); }
    std::string read() {
        std::string s(65536, '\0');
        int n = SSL_read(ssl, s.data(), int(s.size()));
        s.resize(n > 0 ? std::size_t(n) : 0);
        return s;
    }
};

std::shared_ptr<const TlsContext> context(const Files& f) {
    TlsConfig c;
    c.cert_file = f.cert;
    c.key_file = f.key;
    auto ctx = TlsContext::make(c);
    EXPECT_TRUE(ctx.has_value()) << ctx.error();
    return *ctx;
}

TEST(TlsSession, HandshakeThenDataBothWays) {
    Files f;
    TlsSession server(context(f));
    Client client;
    std::string plain, send, error;
    // Round trips until both ends are done (TLS 1.3: two).
    for (int i = 0; i < 4 && !(server.established() && SSL_is_init_finished(client.ssl)); ++i) {
        SSL_do_handshake(client.ssl);
        ASSERT_EQ(server.feed(client.take(), plain, send, error), TlsSession::Status::Ok) << error;
        client.give(send);
        send.clear();
    }
    ASSERT_TRUE(server.established());
    EXPECT_EQ(server.version(), "1.3");
    EXPECT_EQ(server.cipher().rfind("TLS_", 0), 0u) << server.cipher();
    EXPECT_FALSE(server.has_peer());

    const std::string msg = "CONNECT {}\r\nPING\r\n";
    SSL_write(client.ssl, msg.data(), int(msg.size()));
    ASSERT_EQ(server.feed(client.take(), plain, send, error), TlsSession::Status::Ok) << error;
    EXPECT_EQ(plain, msg);
    client.give(send);  // session tickets, if any
    send.clear();
    const std::string big(200000, 'x');
    server.write(big, send);
    client.give(send);
    std::string got;
    for (int i = 0; i < 64 && got.size() < big.size(); ++i) got += client.read();
    EXPECT_EQ(got, big);

    // close_notify from the client ends the session cleanly.
    SSL_shutdown(client.ssl);
    plain.clear();
    EXPECT_EQ(server.feed(client.take(), plain, send, error), TlsSession::Status::PeerClosed);
}

TEST(TlsSession, APlaintextPeerFailsWithoutAnAlert) {
    Files f;
    TlsSession server(context(f));
    std::string plain, send, error;
    EXPECT_EQ(server.feed("CONNECT {}\r\nPING\r\n", plain, send, error), TlsSession::Status::Failed);
    EXPECT_FALSE(error.empty());
    EXPECT_TRUE(send.empty()) << "a plain NATS client gets nothing back, as from nats-server";
    EXPECT_TRUE(plain.empty());
}

TEST(TlsSession, MissingFilesAndUnknownNamesAreNamed) {
    TlsConfig c;
    c.cert_file = "/nonexistent/cert.pem";
    c.key_file = "/nonexistent/key.pem";
    auto ctx = TlsContext::make(c);
    ASSERT_FALSE(ctx.has_value());
    EXPECT_NE(ctx.error().find("open /nonexistent/cert.pem: no such file or directory"), std::string::npos) << ctx.error();
    Files f;
    c.cert_file = f.cert;
    c.key_file = f.key;
    c.cipher_suites = {"TLS_NOPE"};
    ctx = TlsContext::make(c);
    ASSERT_FALSE(ctx.has_value());
    EXPECT_EQ(ctx.error(), "unrecognized cipher TLS_NOPE");
    EXPECT_TRUE(known_cipher_suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"));
    EXPECT_TRUE(known_curve("CurveP256"));
    EXPECT_FALSE(known_curve("P256"));
}

}  // namespace
}  // namespace osprey::transport
