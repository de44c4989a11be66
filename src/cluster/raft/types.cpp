#include "cluster/raft/types.h"

namespace osprey::raft {

Membership Membership::of(std::vector<NodeId> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    ids.erase(std::remove(ids.begin(), ids.end(), kNone), ids.end());
    return Membership{std::move(ids)};
}

// Text, one id per comma: membership entries are rare and worth being readable in a dump.
std::string Membership::encode() const {
    std::string out;
    for (NodeId v : voters) {
        if (!out.empty()) out += ',';
        out += std::to_string(v);
    }
    return out;
}

std::optional<Membership> Membership::decode(std::string_view data) {
    std::vector<NodeId> ids;
    std::size_t i = 0;
    while (i < data.size()) {
        NodeId v = 0;
        std::size_t digits = 0;
        while (i < data.size() && data[i] >= '0' && data[i] <= '9') {
            v = v * 10 + NodeId(data[i] - '0');
            ++i;
            ++digits;
        }
        if (digits == 0 || v == kNone) return std::nullopt;
        ids.push_back(v);
        if (i < data.size()) {
            if (data[i] != ',') return std::nullopt;
            ++i;
        }
    }
    return of(std::move(ids));
}

}  // namespace osprey::raft
