// Memory storage: messages in a map by sequence, the shared index beside them.
#pragma once
#include <memory>
#include <mutex>
#include <unordered_map>

#include "jetstream/store/indexed_store.h"

namespace osprey::jetstream {

class MemStore final : public IndexedStore {
public:
    std::expected<std::uint64_t, std::string> append(std::string_view subject,
                                                     std::string_view hdr, std::string_view data,
                                                     std::int64_t ts, std::uint64_t at_seq = 0) override;
    void when_durable(std::uint64_t, std::function<void()> cb) override { cb(); }
    void set_durable_listener(std::function<void(std::uint64_t)>) override {}
    std::uint64_t durable_seq() const override { return state().last_seq; }
    std::optional<StoredMsg> load(std::uint64_t seq) const override;
    std::optional<StoredMsg> load_next(std::string_view filter,
                                       std::uint64_t start) const override;
    std::optional<StoredMsg> load_last(std::string_view filter) const override;
    bool remove(std::uint64_t seq) override;
    std::uint64_t purge(std::string_view filter, std::uint64_t below,
                        std::uint64_t keep) override;
    void sync() override {}
    void stop() override {}
    void destroy() override;

private:
    struct Body {
        std::string hdr, data;
    };
    std::optional<StoredMsg> load_locked(std::uint64_t seq) const;
    std::unordered_map<std::uint64_t, Body> bodies_;
};

}  // namespace osprey::jetstream
