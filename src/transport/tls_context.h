// A server-side TLS context made from a tls {} block: certificate chain, key, the CAs that
// client certificates are checked against, versions, ciphers and curves. Immutable once made;
// a reload makes a new one, and connections keep the context they started with.
#pragma once
#include <expected>
#include <memory>
#include <string>

#include "transport/tls_config.h"

struct ssl_ctx_st;

namespace osprey::transport {

class TlsContext {
public:
    // nats-server's GenTLSConfig: the error names what is wrong ("open x.pem: no such file").
    static std::expected<std::shared_ptr<const TlsContext>, std::string> make(const TlsConfig& c);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    ssl_ctx_st* native() const { return ctx_; }
    const TlsConfig& config() const { return config_; }

private:
    TlsContext(ssl_ctx_st* ctx, TlsConfig c) : ctx_(ctx), config_(std::move(c)) {}
    ssl_ctx_st* ctx_;
    TlsConfig config_;
};

// Go's cipher suite and curve names (nats-server's cipherMap, curvePreferenceMap): whether a
// name is known, for the config's error at start-up.
bool known_cipher_suite(const std::string& go_name);
bool known_curve(const std::string& go_name);

}  // namespace osprey::transport
