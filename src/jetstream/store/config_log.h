// A small durable table of named texts (the durable consumers' configurations of one stream):
// one append-only FileStore instead of a file pair per name. Writing a name costs one append,
// and one fdatasync covers every name written while the previous one ran (the FileStore's
// group commit), where two files, two fsyncs, two renames and a directory fsync per consumer
// did before.
//
// Each put appends the text twice (the same fdatasync): a record that fails its checksum
// after a bit flip is skipped by the store's recovery, and the other copy stands in, as the
// `.bak` file did. The newest record of a name wins; an empty record erases the name. Older
// records are removed as they are superseded, so the log holds about two records per name.
//
// Thread-safe. `dir` is created only by the first put (a stream without durable consumers
// has no log); load() reads an existing one.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace osprey::jetstream {

class FileStore;

class ConfigLog {
public:
    ConfigLog(std::string dir, std::int64_t sync_interval_ms);
    ~ConfigLog();
    ConfigLog(const ConfigLog&) = delete;
    ConfigLog& operator=(const ConfigLog&) = delete;

    // Every name's newest text, read from disk (empty when there is no log yet).
    std::map<std::string, std::string> load();
    // Records `text` for `name`; `durable` runs (on a writer thread) once the record is as
    // durable as a stored message. False, and `durable` never runs, when it cannot be written.
    bool put(const std::string& name, const std::string& text, std::function<void()> durable = {});
    // Forgets `name` (a record saying so); `durable` as for put.
    bool erase(const std::string& name, std::function<void()> durable = {});
    // Stops the writer (flushing what is queued); with `destroy`, deletes the files too.
    void close(bool destroy);

private:
    bool open_locked(bool create);
    bool append_locked(const std::string& name, const std::string& text, std::function<void()> durable);

    std::mutex mu_;
    std::string dir_;
    std::int64_t sync_interval_ms_;
    std::unique_ptr<FileStore> store_;
    std::unordered_map<std::string, std::vector<std::uint64_t>> records_;  // name -> its live records
    bool closed_ = false;
};

}  // namespace osprey::jetstream
