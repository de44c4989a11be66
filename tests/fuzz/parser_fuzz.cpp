// libFuzzer target for the protocol parser: arbitrary bytes, fed whole and in two pieces,
// must never crash, and every view handed out must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/parser.h"

using namespace osprey::protocol;

namespace {
struct Checker {
    std::string_view in;
    void inside(std::string_view v) const {
        if (v.empty()) return;
        if (v.data() < in.data() || v.data() + v.size() > in.data() + in.size()) __builtin_trap();
    }
    bool on_pub(const Pub& p) {
        inside(p.subject);
        inside(p.reply);
        inside(p.headers);
        inside(p.payload);
        return true;
    }
    bool on_sub(const Sub& s) {
        inside(s.subject);
        inside(s.queue);
        inside(s.sid);
        return true;
    }
    bool on_unsub(const Unsub& u) {
        inside(u.sid);
        return true;
    }
    bool on_connect(std::string_view j) {
        inside(j);
        return true;
    }
    bool on_info(std::string_view j) {
        inside(j);
        return true;
    }
    bool on_ping() { return true; }
    bool on_pong() { return true; }
    bool on_ok() { return true; }
    bool on_err(std::string_view e) {
        inside(e);
        return true;
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Limits limits;
    limits.max_control_line = 256;
    limits.max_payload = 1024;
    limits.headers = size > 0 && (data[0] & 1);
    std::string buf(reinterpret_cast<const char*>(data), size);
    Checker c{buf};
    Result r = parse(buf, limits, c);
    if (r.consumed > buf.size()) __builtin_trap();
    // Split in two at a point chosen by the input: the same or a later error, never a crash.
    std::size_t cut = size ? data[size - 1] % (size + 1) : 0;
    std::string acc(buf.substr(0, cut));
    Checker c2{acc};
    Result r1 = parse(acc, limits, c2);
    if (r1.error == Error::None) {
        acc.erase(0, r1.consumed);
        acc += buf.substr(cut);
        Checker c3{acc};
        Result r2 = parse(acc, limits, c3);
        if (r2.consumed > acc.size()) __builtin_trap();
    }
    return 0;
}
