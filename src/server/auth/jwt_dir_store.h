// The account JWTs of a nats based account resolver (`resolver { type: full, dir: ... }`):
// one file per account, `<dir>/<account public key>.jwt`, as nats-server's DirJWTStore lays
// them out (so a directory moves between the two servers unchanged). Unlike nats-server's
// plain WriteFile, a save is durable before it is acknowledged: temporary file, fsync,
// rename, directory fsync (an `nsc push` that was answered "jwt updated" survives a crash).
// Deletes (allow_delete) rename the file to `<key>.jwt.deleted`, as nats-server does.
// The cache resolver's store evicts: past `limit` JWTs the least recently used file goes, and
// at start files older than `ttl` are dropped (fetched again when needed). Thread-safe.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace osprey::server::auth {

class JwtDirStore {
public:
    // Creates `dir` when missing; throws std::runtime_error with nats-server's text when it
    // cannot be used.
    JwtDirStore(std::string dir, std::int64_t limit, bool evict = false, std::int64_t ttl_ms = 0);

    std::optional<std::string> load(const std::string& pub) const;
    // Overwrites (nats-server's save). Error text, or "" on success; `changed`: whether the
    // content differs from what was there.
    std::string save(const std::string& pub, const std::string& jwt, bool* changed = nullptr);
    // nats-server's saveIfNewer (preloads, fetched or merged JWTs): only when there is none,
    // or the new one is another JWT (jti) issued no earlier (iat).
    std::string save_if_newer(const std::string& pub, const std::string& jwt, bool* written = nullptr);
    // full: rename to .jwt.deleted; cache: the file goes. No file: success.
    std::string remove(const std::string& pub);
    // nats-server's store hash: the XOR of every stored (unexpired) file's SHA-256 (32 bytes),
    // and the pack of `<key>|<jwt>` lines the sync sends.
    std::string hash() const;
    std::vector<std::string> pack() const;
    // The stored account keys, sorted, without those whose JWT expired.
    std::vector<std::string> list() const;
    const std::string& dir() const { return dir_; }

private:
    std::string path(const std::string& pub) const { return dir_ + "/" + pub + ".jwt"; }
    std::string write_locked(const std::string& pub, const std::string& jwt);

    void touch_locked(const std::string& pub) const;

    mutable std::mutex mu_;
    std::string dir_;
    std::int64_t limit_;  // 0: none
    bool evict_;          // cache: the least recently used goes when full
    mutable std::vector<std::string> lru_;  // cache: least recently used first
};

}  // namespace osprey::server::auth
