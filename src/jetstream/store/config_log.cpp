#include "jetstream/store/config_log.h"

#include <filesystem>

#include "jetstream/store/file_store.h"
#include "util/log.h"

namespace osprey::jetstream {

namespace fs = std::filesystem;

ConfigLog::ConfigLog(std::string dir, std::int64_t sync_interval_ms)
    : dir_(std::move(dir)), sync_interval_ms_(sync_interval_ms) {}

ConfigLog::~ConfigLog() { close(false); }

bool ConfigLog::open_locked(bool create) {
    if (store_) return true;
    if (closed_) return false;
    std::error_code ec;
    if (!create && !fs::exists(dir_, ec)) return false;
    FileStoreConfig fc;
    fc.dir = dir_;
    fc.sync_interval_ms = sync_interval_ms_;
    fc.segment_bytes = 256 * 1024;  // small: superseded records go with their segment
    try {
        store_ = std::make_unique<FileStore>(fc);
    } catch (const std::exception& e) {
        log::error("JetStream: cannot open {}: {}", dir_, e.what());
        return false;
    }
    return true;
}

std::map<std::string, std::string> ConfigLog::load() {
    std::lock_guard lk(mu_);
    std::map<std::string, std::string> out;
    records_.clear();
    if (!open_locked(false)) return out;
    std::map<std::string, std::string> text;  // each name's newest (the records come in order)
    for (std::uint64_t seq = 1;;) {
        auto m = store_->load_next({}, seq);
        if (!m) break;
        records_[m->subject].push_back(m->seq);
        text[m->subject] = std::move(m->data);
        seq = m->seq + 1;
    }
    for (auto& [name, t] : text) {
        auto& seqs = records_[name];
        // What an earlier run superseded but had not removed yet (a crash in between).
        std::vector<std::uint64_t> keep;
        const std::uint64_t last = seqs.back();
        for (std::uint64_t s : seqs) {
            if (!t.empty() && last - s <= 1) keep.push_back(s);  // the newest pair
            else store_->remove(s);
        }
        if (t.empty()) {
            records_.erase(name);  // erased: its records all removed
            continue;
        }
        seqs = std::move(keep);
        out.emplace(name, std::move(t));
    }
    return out;
}

bool ConfigLog::append_locked(const std::string& name, const std::string& text, std::function<void()> durable) {
    if (!open_locked(true)) return false;
    const int copies = text.empty() ? 1 : 2;
    auto last = store_->append_copies(name, text, copies);
    if (!last) {
        log::error("JetStream: cannot write {} in {}: {}", name, dir_, last.error());
        return false;
    }
    std::vector<std::uint64_t> fresh;
    for (int i = copies - 1; i >= 0; --i) fresh.push_back(*last - std::uint64_t(i));
    // The new records first, then the old ones go: a crash in between leaves both, and the
    // newest wins at the next load.
    auto& seqs = records_[name];
    for (std::uint64_t s : seqs) store_->remove(s);
    seqs = fresh;
    if (durable) store_->when_durable(fresh.back(), std::move(durable));
    return true;
}

bool ConfigLog::put(const std::string& name, const std::string& text, std::function<void()> durable) {
    if (text.empty()) return false;  // empty means erased
    std::lock_guard lk(mu_);
    return append_locked(name, text, std::move(durable));
}

bool ConfigLog::erase(const std::string& name, std::function<void()> durable) {
    std::lock_guard lk(mu_);
    if (!records_.contains(name)) {
        // Nothing recorded (never written, or no log): nothing to forget.
        if (durable) durable();
        return true;
    }
    if (!append_locked(name, {}, std::move(durable))) return false;
    // The erasing record stays until the next load removes it with the rest.
    return true;
}

void ConfigLog::close(bool destroy) {
    std::lock_guard lk(mu_);
    closed_ = true;
    if (!store_) return;
    if (destroy) store_->destroy();
    else store_->stop();
}

}  // namespace osprey::jetstream
