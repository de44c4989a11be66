// What both stores answer the same way: the read-only questions about the index, under the
// store's lock. MemStore and FileStore derive from it and add where the bytes live.
#pragma once
#include <mutex>

#include "jetstream/store/message_index.h"
#include "jetstream/store/store.h"

namespace osprey::jetstream {

class IndexedStore : public Store {
public:
    StoreState state() const override {
        std::lock_guard lk(mu_);
        return index_.state();
    }
    SubjectState subject_state(std::string_view subject) const override {
        std::lock_guard lk(mu_);
        return index_.subject_state(subject);
    }
    std::map<std::string, std::uint64_t> subject_totals(std::string_view filter) const override {
        std::lock_guard lk(mu_);
        return index_.subject_totals(filter);
    }
    std::vector<std::uint64_t> deleted() const override {
        std::lock_guard lk(mu_);
        return index_.deleted();
    }
    std::uint64_t count_after(std::string_view filter, std::uint64_t seq) const override {
        std::lock_guard lk(mu_);
        return index_.count_after(filter, seq);
    }
    std::vector<std::uint64_t> with_headers_since(std::int64_t ts) const override {
        std::lock_guard lk(mu_);
        return index_.with_headers_since(ts);
    }
    std::uint64_t removals() const override {
        std::lock_guard lk(mu_);
        return index_.removals();
    }
    bool contains(std::uint64_t seq) const override {
        std::lock_guard lk(mu_);
        return index_.is_live(seq);
    }
    std::pair<std::uint64_t, std::int64_t> oldest() const override {
        std::lock_guard lk(mu_);
        auto st = index_.state();
        return st.msgs ? std::pair{st.first_seq, st.first_ts}
                       : std::pair<std::uint64_t, std::int64_t>{0, 0};
    }

protected:
    mutable std::mutex mu_;
    MessageIndex index_;
};

}  // namespace osprey::jetstream
