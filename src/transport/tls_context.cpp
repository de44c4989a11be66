#include "transport/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

namespace osprey::transport {

namespace {

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// Go's TLS 1.2 cipher suite names as nats-server takes them, with OpenSSL's names. TLS 1.3
// suites are accepted and, as in Go, not configurable (every 1.3 suite stays on).
const std::map<std::string, const char*>& cipher_map() {
    static const std::map<std::string, const char*> m = {
        {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
        {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
        {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
        {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
        {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
        {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
        {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
        {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
        {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
        {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
        {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
        {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
        {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
        {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
        {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
        {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
        {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
        {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
        {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"TLS_AES_128_GCM_SHA256", nullptr},
        {"TLS_AES_256_GCM_SHA384", nullptr},
        {"TLS_CHACHA20_POLY1305_SHA256", nullptr},
    };
    return m;
}

const std::map<std::string, const char*>& curve_map() {
    static const std::map<std::string, const char*> m = {
        {"X25519", "X25519"}, {"CurveP256", "P-256"}, {"CurveP384", "P-384"}, {"CurveP521", "P-521"},
    };
    return m;
}

// Go's os.Open error text, which nats-server passes on.
std::string open_error(const std::string& path) {
    std::ifstream f(path);
    if (f) return {};
    std::string err = std::strerror(errno);
    if (!err.empty()) err[0] = char(std::tolower((unsigned char)err[0]));
    return "open " + path + ": " + err;
}

}  // namespace

bool known_cipher_suite(const std::string& n) { return cipher_map().contains(n); }
bool known_curve(const std::string& n) { return curve_map().contains(n); }

std::expected<std::shared_ptr<const TlsContext>, std::string> TlsContext::make(const TlsConfig& c) {
    if (c.cert_file.empty() && !c.key_file.empty()) return std::unexpected(std::string("missing 'cert_file' in TLS configuration"));
    if (!c.cert_file.empty() && c.key_file.empty()) return std::unexpected(std::string("missing 'key_file' in TLS configuration"));
    for (const auto* p : {&c.cert_file, &c.key_file})
        if (auto e = open_error(*p); !e.empty()) return std::unexpected("error parsing X509 certificate/key pair: " + e);
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return std::unexpected("TLS context: " + openssl_error());
    auto fail = [ctx](std::string what) {
        SSL_CTX_free(ctx);
        return std::unexpected(std::move(what));
    };
    if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return fail("error parsing X509 certificate/key pair: " + openssl_error());
    // nats-server's default minimum is TLS 1.2.
    int min = TLS1_2_VERSION;
    if (c.min_version == "1.3") min = TLS1_3_VERSION;
    else if (!c.min_version.empty() && c.min_version != "1.2")
        return fail("unsupported TLS version: " + c.min_version);
    SSL_CTX_set_min_proto_version(ctx, min);
    if (!c.cipher_suites.empty()) {
        std::string list;
        for (const auto& n : c.cipher_suites) {
            auto it = cipher_map().find(n);
            if (it == cipher_map().end()) return fail("unrecognized cipher " + n);
            if (!it->second) continue;
            if (!list.empty()) list += ':';
            list += it->second;
        }
        // Only TLS 1.3 suites named: 1.2 keeps OpenSSL's defaults.
        if (!list.empty() && SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1)
            return fail("cipher suites: " + openssl_error());
    }
    if (!c.curve_preferences.empty()) {
        std::string list;
        for (const auto& n : c.curve_preferences) {
            auto it = curve_map().find(n);
            if (it == curve_map().end()) return fail("unrecognized curve preference " + n);
            if (!list.empty()) list += ':';
            list += it->second;
        }
        if (SSL_CTX_set1_groups_list(ctx, list.c_str()) != 1) return fail("curve preferences: " + openssl_error());
    }
    if (!c.ca_file.empty()) {
        if (auto e = open_error(c.ca_file); !e.empty()) return fail(e);
        if (SSL_CTX_load_verify_locations(ctx, c.ca_file.c_str(), nullptr) != 1)
            return fail("failed to parse root ca certificate");
        // The CA names offered to clients choosing a certificate.
        if (auto* names = SSL_load_client_CA_file(c.ca_file.c_str())) SSL_CTX_set_client_CA_list(ctx, names);
    } else if (c.verify || c.verify_and_map) {
        SSL_CTX_set_default_verify_paths(ctx);  // Go: the system pool
    }
    if (c.verify || c.verify_and_map)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Renegotiation is refused, as Go does. (SSL_MODE_RELEASE_BUFFERS would free the record
    // buffers after every read and write over memory BIOs: a malloc and free per operation.)
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    static const unsigned char sid[] = "osprey";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    return std::shared_ptr<const TlsContext>(new TlsContext(ctx, c));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace osprey::transport
