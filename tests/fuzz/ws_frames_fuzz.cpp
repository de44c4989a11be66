// libFuzzer target of the WebSocket frame decoder: any bytes, fed in random-sized pieces (the
// first byte picks the split), must end in messages or a failure with an RFC close code,
// never a crash or a message past the size limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/ws_frames.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = 1 + data[0] % 64;
    osprey::protocol::WsDecoder d(4096);
    std::vector<osprey::protocol::WsMessage> out;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    for (std::size_t at = 0; at < in.size(); at += step) {
        auto f = d.feed(in.substr(at, step), out);
        if (f && f->code != 1002 && f->code != 1007 && f->code != 1009) std::abort();
        if (f) break;
    }
    for (const auto& m : out) {
        if (m.payload.size() > 4096) std::abort();
        if (m.op == osprey::protocol::WsOp::Text && !osprey::protocol::valid_utf8(m.payload)) std::abort();
    }
    return 0;
}
