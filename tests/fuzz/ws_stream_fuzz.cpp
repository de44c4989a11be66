// libFuzzer target of the NATS websocket port's input: the upgrade request (any bytes must end
// in a wait, a refusal or an accept) and, after it, frames with permessage-deflate on (any
// bytes, fed in pieces, must give protocol bytes within the bound, or a failure with a close
// frame queued; never a crash, never unbounded inflation).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "transport/ws_stream.h"
#include "transport/ws_upgrade.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    using namespace osprey::transport;
    if (data[0] & 0x80) {
        WsUpgradeConfig cfg;
        cfg.compression = true;
        cfg.same_origin = data[0] & 1;
        cfg.jwt_cookie = "jwt";
        WsOrigin o;
        if (parse_origin("http://good.example", o)) cfg.allowed_origins.push_back(o);
        auto u = ws_upgrade(in, cfg, 4096);
        if (u.kind != WsUpgrade::Kind::Incomplete && u.response.empty()) std::abort();
        if (u.kind == WsUpgrade::Kind::Incomplete && in.size() > 4096) std::abort();
        return 0;
    }
    const std::size_t step = 1 + data[0] % 64;
    constexpr std::size_t kMax = 8192;
    WsStream ws(kMax, true, data[0] & 1);
    std::string plain, send, why;
    for (std::size_t at = 0; at < in.size(); at += step) {
        const std::size_t before = plain.size();
        auto st = ws.feed(in.substr(at, step), plain, send, why);
        // One feed adds at most what its messages carry: each bounded by kMax (and inflation
        // stops within one 16 KiB step past it).
        if (plain.size() - before > (kMax + 16384) * (step + 1)) std::abort();
        if (st == WsStream::Status::Failed && send.empty()) std::abort();
        if (st != WsStream::Status::Ok) break;
    }
    ws.write(plain.substr(0, 1000), send);
    return 0;
}
