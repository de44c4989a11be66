#include "jetstream/store/message_index.h"

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
    if (entries_.empty()) base_ = seq;
    while (base_ + entries_.size() < seq) entries_.push_back(Entry{});  // gap: deleted
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
    auto& st = subjects_[id].st;
    if (st.msgs == 0) {
        st.first = seq;
        ++live_subjects_;
    }
    ++st.msgs;
    st.last = seq;
    if (first_ == 0 || msgs_ == 1) first_ = seq;
    advance_first();
}

const MessageIndex::Entry* MessageIndex::live(std::uint64_t seq) const {
    if (seq < base_ || seq >= base_ + entries_.size()) return nullptr;
    const Entry& e = entries_[seq - base_];
    return e.size ? &e : nullptr;
}

bool MessageIndex::remove(std::uint64_t seq) {
    if (seq < base_ || seq >= base_ + entries_.size()) return false;
    Entry& e = entries_[seq - base_];
    if (!e.size) return false;
    ++removals_;
    --msgs_;
    bytes_ -= e.size;
    e.size = 0;
    auto& st = subjects_[e.subject_id].st;
    --st.msgs;
    if (st.msgs == 0) {
        st.first = st.last = 0;
        --live_subjects_;
    } else if (st.msgs == 1 && st.first == seq) {
        st.first = st.last;
    } else if (st.first == seq) {
        // Scan forward to this subject's next live message (bounded by its last).
        for (std::uint64_t s = seq + 1; s <= st.last; ++s) {
            const Entry* n = live(s);
            if (n && n->subject_id == e.subject_id) {
                st.first = s;
                break;
            }
        }
    } else if (st.last == seq) {
        for (std::uint64_t s = seq - 1; s >= st.first && s >= base_; --s) {
            const Entry* n = live(s);
            if (n && n->subject_id == e.subject_id) {
                st.last = s;
                break;
            }
            if (s == 0) break;
        }
    }
    advance_first();
    return true;
}

void MessageIndex::advance_first() {
    // Drop deleted entries at the front: they cost memory and tell nothing.
    while (!entries_.empty() && entries_.front().size == 0 && base_ <= last_) {
        entries_.pop_front();
        ++base_;
    }
    first_ = msgs_ ? base_ : 0;
}

void MessageIndex::reset_first(std::uint64_t seq) {
    for (std::uint64_t s = base_; s < seq && s < base_ + entries_.size(); ++s) remove(s);
    if (seq > last_ + 1) {
        // Nothing stored up to seq: the next sequence continues from there.
        entries_.clear();
        base_ = seq;
        last_ = seq - 1;
    }
    advance_first();
}

std::uint64_t MessageIndex::next_match(std::string_view filter, std::uint64_t start) const {
    if (start < base_) start = base_;
    const bool literal = !filter.empty() && !subjects::has_wildcard(filter);
    if (literal) {
        auto it = ids_.find(filter);
        if (it == ids_.end()) return 0;
        const auto& st = subjects_[it->second].st;
        if (st.msgs == 0 || start > st.last) return 0;
        if (start <= st.first) return st.first;
        for (std::uint64_t s = start; s <= st.last; ++s) {
            const Entry* e = live(s);
            if (e && e->subject_id == it->second) return s;
        }
        return 0;
    }
    for (std::uint64_t s = start; s <= last_; ++s) {
        const Entry* e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) return s;
    }
    return 0;
}

std::vector<std::uint64_t> MessageIndex::with_headers_since(std::int64_t ts) const {
    std::vector<std::uint64_t> out;
    for (std::uint64_t s = last_; s >= base_ && s > 0; --s) {
        const Entry& e = entries_[s - base_];
        if (e.size && e.ts < ts) break;
        if (e.size && e.has_hdr) out.push_back(s);
    }
    return out;
}

std::uint64_t MessageIndex::last_match(std::string_view filter) const {
    if (msgs_ == 0) return 0;
    if (!filter.empty() && !subjects::has_wildcard(filter)) {
        auto it = ids_.find(filter);
        if (it == ids_.end()) return 0;
        return subjects_[it->second].st.last;
    }
    for (std::uint64_t s = last_; s >= base_ && s > 0; --s) {
        const Entry* e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) return s;
    }
    return 0;
}

std::vector<std::uint64_t> MessageIndex::matching(std::string_view filter,
                                                  std::uint64_t below) const {
    std::vector<std::uint64_t> out;
    const std::uint64_t end = below ? std::min(below, last_ + 1) : last_ + 1;
    for (std::uint64_t s = base_; s < end; ++s) {
        const Entry* e = live(s);
        if (e && filter_matches(filter, names_[e->subject_id])) out.push_back(s);
    }
    return out;
}

std::uint64_t MessageIndex::count_after(std::string_view filter, std::uint64_t seq) const {
    if (filter.empty() || filter == ">") {
        if (seq < base_) return msgs_;
        std::uint64_t n = 0;
        for (std::uint64_t s = seq + 1; s <= last_; ++s) n += live(s) ? 1 : 0;
        return n;
    }
    if (!subjects::has_wildcard(filter)) {
        auto it = ids_.find(filter);
        if (it == ids_.end()) return 0;
        const auto& st = subjects_[it->second].st;
        if (st.msgs == 0 || st.last <= seq) return 0;
        if (seq < st.first) return st.msgs;
    }
    std::uint64_t n = 0;
    for (std::uint64_t s = std::max(seq + 1, base_); s <= last_; ++s) {
        const Entry* e = live(s);
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
        st.first_ts = live(first_)->ts;
        st.num_deleted = (last_ - first_ + 1) - msgs_;
    } else {
        st.first_seq = last_ ? last_ + 1 : 0;
    }
    return st;
}

SubjectState MessageIndex::subject_state(std::string_view subject) const {
    auto it = ids_.find(subject);
    if (it == ids_.end()) return {};
    return subjects_[it->second].st;
}

std::map<std::string, std::uint64_t> MessageIndex::subject_totals(std::string_view filter) const {
    std::map<std::string, std::uint64_t> out;
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (subjects_[i].st.msgs && filter_matches(filter, names_[i]))
            out[names_[i]] = subjects_[i].st.msgs;
    }
    return out;
}

std::vector<std::uint64_t> MessageIndex::deleted() const {
    std::vector<std::uint64_t> out;
    if (!msgs_) return out;
    for (std::uint64_t s = first_; s <= last_; ++s)
        if (!live(s)) out.push_back(s);
    return out;
}

}  // namespace osprey::jetstream
