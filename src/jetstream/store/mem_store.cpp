#include "jetstream/store/mem_store.h"

#include <algorithm>

namespace osprey::jetstream {

std::expected<std::uint64_t, std::string> MemStore::append(std::string_view subject,
                                                           std::string_view hdr,
                                                           std::string_view data,
                                                           std::int64_t ts, std::uint64_t at_seq) {
    std::lock_guard lk(mu_);
    const std::uint64_t seq = std::max(index_.last_seq() + 1, at_seq);
    index_.add(seq, subject, ts, std::uint32_t(mem_msg_size(subject.size(), hdr.size(), data.size())),
               0, !hdr.empty());
    bodies_.emplace(seq, Body{std::string(hdr), std::string(data)});
    return seq;
}

std::optional<StoredMsg> MemStore::load_locked(std::uint64_t seq) const {
    const auto e = index_.live(seq);
    if (!e) return std::nullopt;
    auto it = bodies_.find(seq);
    if (it == bodies_.end()) return std::nullopt;
    return StoredMsg{index_.subject_of(*e), it->second.hdr, it->second.data, seq, e->ts};
}

std::optional<StoredMsg> MemStore::load(std::uint64_t seq) const {
    std::lock_guard lk(mu_);
    return load_locked(seq);
}

std::optional<StoredMsg> MemStore::load_next(std::string_view filter, std::uint64_t start) const {
    std::lock_guard lk(mu_);
    std::uint64_t s = index_.next_match(filter, start);
    return s ? load_locked(s) : std::nullopt;
}

std::optional<StoredMsg> MemStore::load_last(std::string_view filter) const {
    std::lock_guard lk(mu_);
    std::uint64_t s = index_.last_match(filter);
    return s ? load_locked(s) : std::nullopt;
}

bool MemStore::remove(std::uint64_t seq) {
    std::lock_guard lk(mu_);
    if (!index_.remove(seq)) return false;
    bodies_.erase(seq);
    return true;
}

std::uint64_t MemStore::purge(std::string_view filter, std::uint64_t below, std::uint64_t keep) {
    std::lock_guard lk(mu_);
    if (filter.empty() && below == 0 && keep == 0) {
        const std::uint64_t n = index_.msgs();
        index_.reset_first(index_.last_seq() + 1);
        bodies_.clear();
        return n;
    }
    auto seqs = index_.matching(filter, below);
    if (keep > 0) {
        // The newest `keep` of those (below `below`, when given: a replicated purge keeps
        // them as of its place in the log) stay.
        const std::uint64_t limit = seqs.size() > keep ? seqs[seqs.size() - keep] : 0;
        std::erase_if(seqs, [&](std::uint64_t s) { return limit == 0 || s >= limit; });
    }
    for (auto s : seqs) {
        index_.remove(s);
        bodies_.erase(s);
    }
    return seqs.size();
}

void MemStore::destroy() {
    std::lock_guard lk(mu_);
    bodies_.clear();
    index_ = MessageIndex{};
}

}  // namespace osprey::jetstream
