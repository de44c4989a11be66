#include "jetstream/store/message_index.h"

#include "jetstream/store/le_bytes.h"

#include <bit>
#include <cstring>

#include "subjects/subject.h"

namespace osprey::jetstream {

namespace {
bool filter_matches(std::string_view filter, std::string_view subject) {
    if (filter.empty() || filter == ">") return true;
    if (!subjects::has_wildcard(filter)) return filter == subject;
    return subjects::matches(filter, subject);
}
}  // namespace

std::uint32_t MessageIndex::intern(std::string_view subject) {
    auto it = ids_.find(subject);
    if (it != ids_.end()) return it->second;
    auto id = std::uint32_t(names_.size());
    names_.emplace_back(subject);
    subjects_.push_back({});
    ids_.emplace(names_.back(), id);
    return id;
}

void MessageIndex::add(std::uint64_t seq, std::string_view subject, std::int64_t ts,
                       std::uint32_t size, std::uint64_t loc, bool has_hdr) {
    if (seq <= last_) return;  // replayed or out of order: ignore
    if (entries_.empty() && base_ == hot_base_) base_ = hot_base_ = seq;
    while (hot_base_ + entries_.size() < seq) entries_.push_back(Entry{});  // gap: deleted
    std::uint32_t id = intern(subject);
    if (size == 0) size = 1;  // size 0 marks deleted entries
    Entry e;
    e.ts = ts;
    e.loc = loc;
    e.subject_id = id;
    e.size = size;
    e.has_hdr = has_hdr ? 1 : 0;
    entries_.push_back(e);
    last_ = seq;
    last_ts_ = ts;
    ++msgs_;
    bytes_ += size;
    auto& st = subjects_[id];
    if (st.msgs == 0) {
        st.first = seq;
        ++live_subjects_;
    }
    ++st.msgs;
    st.last = seq;
    if (first_ == 0 || msgs_ == 1) first_ = seq;
    advance_first();
}

std::optional<MessageIndex::Entry> MessageIndex::live(std::uint64_t seq) const {
    if (seq < base_ || seq > last_ || seq == 0) return std::nullopt;
    if (seq >= hot_base_) {
        const Entry& e = entries_[seq - hot_base_];
        if (!e.size) return std::nullopt;
        return e;
    }
    if (cold_dead(seq) || !cold_) return std::nullopt;
    Entry e;
    if (!cold_->read(seq, e) || !e.size) return std::nullopt;
    return e;
}

bool MessageIndex::is_live(std::uint64_t seq) const {
    if (seq < base_ || seq > last_ || seq == 0) return false;
    if (seq >= hot_base_) return entries_[seq - hot_base_].size != 0;
    return !cold_dead(seq);
}

std::vector<MessageIndex::Entry> MessageIndex::seal(std::uint64_t upto) {
    const std::size_t n = upto <= hot_base_ ? 0
                          : std::size_t(std::min<std::uint64_t>(entries_.size(), upto - hot_base_));
    std::vector<Entry> out;
    if (n == 0) return out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {  // popped as copied: memory does not double
        out.push_back(entries_.front());
        entries_.pop_front();
    }
    if (base_ == hot_base_) {
        bits_.clear();
        bits_base_ = hot_base_ & ~std::uint64_t(63);
    }
    const std::uint64_t end = hot_base_ + n;
    while (bits_base_ + 64 * bits_.size() < end) bits_.push_back({});
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t k = hot_base_ + i - bits_base_;
        if (!out[i].size) bits_[std::size_t(k >> 6)].dead |= std::uint64_t(1) << (k & 63);
        else if (out[i].has_hdr) bits_[std::size_t(k >> 6)].hdr |= std::uint64_t(1) << (k & 63);
    }
    hot_base_ = end;
    if (entries_.empty()) entries_.shrink_to_fit();
    return out;
}

bool MessageIndex::remove(std::uint64_t seq) {
    const auto e = live(seq);
    if (!e) return false;
    if (seq >= hot_base_) entries_[seq - hot_base_].size = 0;
    else set_dead(seq);
    ++removals_;
    --msgs_;
    bytes_ -= e->size;
    auto& st = subjects_[e->subject_id];
    --st.msgs;
    if (st.msgs == 0) {
        st.first = st.last = 0;
        --live_subjects_;
    } else if (st.msgs == 1 && st.first == seq) {
        st.first = st.last;
    } else if (st.first == seq) {
        // Scan forward to this subject's next live message (bounded by its last).
        for (std::uint64_t s = seq + 1; s <= st.last; ++s) {
            if (!is_live(s)) continue;
            const auto n = live(s);
            if (n && n->subject_id == e->subject_id) {
                st.first = s;
                break;
            }
        }
    } else if (st.last == seq) {
        for (std::uint64_t s = seq - 1; s >= st.first && s >= base_; --s) {
            if (is_live(s)) {
                const auto n = live(s);
                if (n && n->subject_id == e->subject_id) {
                    st.last = s;
                    break;
                }
            }
            if (s == 0) break;
        }
    }
    advance_first();
    return true;
}

std::uint64_t MessageIndex::next_cold_live(std::uint64_t seq) const {
    std::uint64_t s = seq;
    while (s < hot_base_) {
        const std::uint64_t i = s - bits_base_;
        std::uint64_t alive = ~bits_[std::size_t(i >> 6)].dead & (~std::uint64_t(0) << (i & 63));
        if (alive) return std::min(hot_base_, bits_base_ + (i & ~std::uint64_t(63)) +
                                                  std::uint64_t(std::countr_zero(alive)));
        s = bits_base_ + (i & ~std::uint64_t(63)) + 64;
    }
    return hot_base_;
}

void MessageIndex::advance_first() {
    // Dead sequences at the front tell nothing: the first live one becomes the base.
    if (base_ < hot_base_) {
        base_ = next_cold_live(base_);
        while (!bits_.empty() && bits_base_ + 64 <= base_) {
            bits_.pop_front();
            bits_base_ += 64;
        }
        if (base_ >= hot_base_) {
            bits_.clear();
            bits_base_ = 0;
        }
    }
    if (base_ == hot_base_) {
        while (!entries_.empty() && entries_.front().size == 0) {
            entries_.pop_front();
            ++hot_base_;
        }
        base_ = hot_base_;
    }
    first_ = msgs_ ? base_ : 0;
}

void MessageIndex::reset_first(std::uint64_t seq) {
    if (seq > last_) {
        // Everything goes: no need to visit each message.
        removals_ += msgs_;
        msgs_ = bytes_ = 0;
        for (auto& st : subjects_) st = {};
        live_subjects_ = 0;
        entries_.clear();
        bits_.clear();
        bits_base_ = 0;
        if (seq > last_ + 1) last_ = seq - 1;
        base_ = hot_base_ = last_ + 1;
        first_ = 0;
        return;
    }
    for (std::uint64_t s = base_; s < seq; ++s) remove(s);
    advance_first();
}

std::uint64_t MessageIndex::next_match(std::string_view filter, std::uint64_t start) const {
    if (start < base_) start = base_;
    const bool literal = !filter.empty() && !subjects::has_wildcard(filter);
    if (literal) {
        auto it = ids_.find(filter);
        if (it == ids_.end()) return 0;
        const auto& st = subjects_[it->second];
        if (st.msgs == 0 || start > st.last) return 0;
        if (start <= st.first) return st.first;
        for (std::uint64_t s = start; s <= st.last; ++s) {
            if (!is_live(s)) continue;
            const auto e = live(s);
            if (e && e->subject_id == it->second) return s;
        }
        return 0;
    }
    for (std::uint64_t s = start; s <= last_; ++s) {
        if (!is_live(s)) continue;
        const auto e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) return s;
    }
    return 0;
}

std::vector<std::uint64_t> MessageIndex::with_headers_since(std::int64_t ts) const {
    std::vector<std::uint64_t> out;
    auto visit = [&](std::uint64_t s) {  // false: older than ts, stop
        const auto e = live(s);
        if (!e) return true;
        if (e->ts < ts) return false;
        if (e->has_hdr) out.push_back(s);
        return true;
    };
    for (std::uint64_t s = last_; s >= hot_base_ && s >= base_ && s > 0; --s)
        if (is_live(s) && !visit(s)) return out;
    // Sealed: only the live ones with headers are read (a bit each says so).
    if (base_ >= hot_base_) return out;
    for (std::size_t w = bits_.size(); w-- > 0;) {
        std::uint64_t m = bits_[w].hdr & ~bits_[w].dead;
        while (m) {
            const int b = 63 - std::countl_zero(m);
            m &= ~(std::uint64_t(1) << b);
            const std::uint64_t s = bits_base_ + 64 * w + std::uint64_t(b);
            if (s < base_) return out;
            if (s < hot_base_ && !visit(s)) return out;
        }
    }
    return out;
}

std::uint64_t MessageIndex::last_match(std::string_view filter) const {
    if (msgs_ == 0) return 0;
    if (!filter.empty() && !subjects::has_wildcard(filter)) {
        auto it = ids_.find(filter);
        if (it == ids_.end()) return 0;
        return subjects_[it->second].last;
    }
    for (std::uint64_t s = last_; s >= base_ && s > 0; --s) {
        if (!is_live(s)) continue;
        const auto e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) return s;
    }
    return 0;
}

std::vector<std::uint64_t> MessageIndex::matching(std::string_view filter,
                                                  std::uint64_t below) const {
    std::vector<std::uint64_t> out;
    const std::uint64_t end = below ? std::min(below, last_ + 1) : last_ + 1;
    const bool all = filter.empty() || filter == ">";
    for (std::uint64_t s = base_; s < end; ++s) {
        if (!is_live(s)) continue;
        if (all) {
            out.push_back(s);
            continue;
        }
        const auto e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) out.push_back(s);
    }
    return out;
}

std::uint64_t MessageIndex::count_after(std::string_view filter, std::uint64_t seq) const {
    if (filter.empty() || filter == ">") {
        if (seq < base_) return msgs_;
        std::uint64_t n = 0;
        for (std::uint64_t s = seq + 1; s <= last_; ++s) n += is_live(s) ? 1 : 0;
        return n;
    }
    if (!subjects::has_wildcard(filter)) {
        auto it = ids_.find(filter);
        if (it == ids_.end()) return 0;
        const auto& st = subjects_[it->second];
        if (st.msgs == 0 || st.last <= seq) return 0;
        if (seq < st.first) return st.msgs;
    }
    std::uint64_t n = 0;
    for (std::uint64_t s = std::max(seq + 1, base_); s <= last_; ++s) {
        if (!is_live(s)) continue;
        const auto e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) ++n;
    }
    return n;
}

StoreState MessageIndex::state() const {
    StoreState st;
    st.msgs = msgs_;
    st.bytes = bytes_;
    st.last_seq = last_;
    st.last_ts = last_ts_;
    st.num_subjects = live_subjects_;
    if (msgs_) {
        st.first_seq = first_;
        const auto e = live(first_);
        st.first_ts = e ? e->ts : 0;
        st.num_deleted = (last_ - first_ + 1) - msgs_;
    } else {
        st.first_seq = last_ ? last_ + 1 : 0;
    }
    return st;
}

SubjectState MessageIndex::subject_state(std::string_view subject) const {
    auto it = ids_.find(subject);
    if (it == ids_.end()) return {};
    return subjects_[it->second];
}

std::map<std::string, std::uint64_t> MessageIndex::subject_totals(std::string_view filter) const {
    std::map<std::string, std::uint64_t> out;
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (subjects_[i].msgs && filter_matches(filter, names_[i])) out[names_[i]] = subjects_[i].msgs;
    }
    return out;
}

std::vector<std::uint64_t> MessageIndex::deleted() const {
    std::vector<std::uint64_t> out;
    if (!msgs_) return out;
    for (std::uint64_t s = first_; s <= last_; ++s)
        if (!is_live(s)) out.push_back(s);
    return out;
}

// ---- the whole index as bytes (nothing hot) ----

namespace {
using le_bytes::put64;
using le_bytes::Reader;
// Bit words, run-length coded: a fresh stream is all zeros, a drained one mostly ones.
constexpr std::uint64_t kZeros = 0, kOnes = 1, kLiteral = 2;
constexpr std::uint64_t kAll = ~std::uint64_t(0);

template <typename Words, typename Get>
void put_words(std::string& out, const Words& words, Get get) {
    for (std::size_t i = 0; i < words.size();) {
        const std::uint64_t w = get(words[i]);
        std::size_t j = i + 1;
        if (w == 0 || w == kAll) {
            while (j < words.size() && get(words[j]) == w) ++j;
            put64(out, ((w ? kOnes : kZeros) << 62) | (j - i));
        } else {
            while (j < words.size() && get(words[j]) != 0 && get(words[j]) != kAll) ++j;
            put64(out, (kLiteral << 62) | (j - i));
            for (std::size_t k = i; k < j; ++k) put64(out, get(words[k]));
        }
        i = j;
    }
}

template <typename Words, typename Ref>
bool get_words(Reader& r, Words& words, Ref ref) {
    std::size_t at = 0;
    while (r.ok && at < words.size()) {
        const std::uint64_t h = r.u64();
        const std::uint64_t kind = h >> 62, n = h & ((std::uint64_t(1) << 62) - 1);
        if (!r.ok || n == 0 || n > words.size() - at) return false;
        for (std::uint64_t k = 0; k < n; ++k, ++at)
            ref(words[at]) = kind == kLiteral ? r.u64() : kind == kOnes ? kAll : 0;
    }
    return r.ok;
}
}  // namespace

void MessageIndex::encode(std::string& out) const {
    for (std::uint64_t v : {base_, hot_base_, bits_base_, first_, last_, msgs_, bytes_, removals_,
                            std::uint64_t(last_ts_), live_subjects_})
        put64(out, v);
    put64(out, names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i) {
        put64(out, names_[i].size());
        out.append(names_[i]);
        put64(out, subjects_[i].msgs);
        put64(out, subjects_[i].first);
        put64(out, subjects_[i].last);
    }
    put64(out, bits_.size());
    put_words(out, bits_, [](const Bits& b) { return b.dead; });
    put_words(out, bits_, [](const Bits& b) { return b.hdr; });
}

bool MessageIndex::decode(std::string_view in) {
    MessageIndex x;
    x.cold_ = cold_;
    Reader r{in};
    x.base_ = r.u64();
    x.hot_base_ = r.u64();
    x.bits_base_ = r.u64();
    x.first_ = r.u64();
    x.last_ = r.u64();
    x.msgs_ = r.u64();
    x.bytes_ = r.u64();
    x.removals_ = r.u64();
    x.last_ts_ = std::int64_t(r.u64());
    x.live_subjects_ = r.u64();
    const std::uint64_t names = r.u64();
    if (!r.ok || names > in.size()) return false;
    for (std::uint64_t i = 0; i < names && r.ok; ++i) {
        const std::uint64_t len = r.u64();
        auto name = r.bytes(len);
        SubjectState st;
        st.msgs = r.u64();
        st.first = r.u64();
        st.last = r.u64();
        if (!r.ok) return false;
        x.names_.emplace_back(name);
        x.subjects_.push_back(st);
        x.ids_.emplace(x.names_.back(), std::uint32_t(i));
    }
    const std::uint64_t words = r.u64();
    // The bits cover bits_base_ up to hot_base_: any other count is not this index's.
    if (!r.ok || x.hot_base_ < x.bits_base_ || words > (x.hot_base_ - x.bits_base_) / 64 + 1) return false;
    x.bits_.resize(std::size_t(words));
    if (!get_words(r, x.bits_, [](Bits& b) -> std::uint64_t& { return b.dead; }) ||
        !get_words(r, x.bits_, [](Bits& b) -> std::uint64_t& { return b.hdr; }))
        return false;
    // What the rest of the class takes for granted.
    if (!r.ok || !r.in.empty() || x.hot_base_ != x.last_ + 1 || x.base_ > x.hot_base_ ||
        (x.base_ < x.hot_base_ &&
         (x.bits_base_ > x.base_ || x.bits_base_ + 64 * x.bits_.size() < x.hot_base_)) ||
        x.msgs_ > x.last_)
        return false;
    *this = std::move(x);
    return true;
}

}  // namespace osprey::jetstream
