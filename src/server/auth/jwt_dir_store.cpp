#include "server/auth/jwt_dir_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

#include "server/auth/jwt.h"
#include "server/auth/nkey.h"

namespace osprey::server::auth {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(f), {});
}

bool fsync_path(const std::string& p, int flags) {
    const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

JwtDirStore::JwtDirStore(std::string dir, std::int64_t limit, bool evict, std::int64_t ttl_ms)
    : dir_(std::move(dir)), limit_(limit), evict_(evict) {
    std::error_code ec;
    if (fs::exists(dir_, ec)) {
        struct stat st{};
        // nats-server's check: a directory its owner may write to.
        if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || !(st.st_mode & S_IWUSR))
            throw std::runtime_error("dir needs to point to an accessible directory");
    } else {
        fs::create_directories(dir_, ec);
        if (ec) throw std::runtime_error("dir needs to point to an accessible directory");
        ::chmod(dir_.c_str(), 0750);
    }
    if (!evict_) return;
    // The cache's order: oldest file first; past their ttl they are not kept.
    std::vector<std::pair<fs::file_time_type, std::string>> files;
    const auto now = fs::file_time_type::clock::now();
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
        if (e.path().extension() != ".jwt") continue;
        const auto t = e.last_write_time(ec);
        if (ttl_ms > 0 && now - t > std::chrono::milliseconds(ttl_ms)) {
            fs::remove(e.path(), ec);
            continue;
        }
        files.emplace_back(t, e.path().stem().string());
    }
    std::sort(files.begin(), files.end());
    for (auto& [t, pub] : files) lru_.push_back(pub);
}

void JwtDirStore::touch_locked(const std::string& pub) const {
    if (!evict_) return;
    std::erase(lru_, pub);
    lru_.push_back(pub);
}

std::optional<std::string> JwtDirStore::load(const std::string& pub) const {
    if (!is_valid_public(kAccount, pub)) return std::nullopt;
    std::lock_guard lk(mu_);
    auto t = read_all(path(pub));
    if (!t || t->empty()) return std::nullopt;
    touch_locked(pub);
    return t;
}

std::string JwtDirStore::write_locked(const std::string& pub, const std::string& jwt) {
    const std::string p = path(pub), tmp = p + ".tmp";
    std::error_code ec;
    if (limit_ > 0 && !fs::exists(p, ec)) {
        std::int64_t n = 0;
        for (const auto& e : fs::directory_iterator(dir_, ec))
            if (e.path().extension() == ".jwt") ++n;
        if (n >= limit_ && !evict_) return "jwt store is full";
        while (n >= limit_ && !lru_.empty()) {
            fs::remove(path(lru_.front()), ec);
            lru_.erase(lru_.begin());
            --n;
        }
    }
    {
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0) return "open " + tmp + ": " + std::strerror(errno);
        std::size_t off = 0;
        while (off < jwt.size()) {
            const ssize_t w = ::write(fd, jwt.data() + off, jwt.size() - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                ::close(fd);
                return "write " + tmp + ": " + std::strerror(errno);
            }
            off += std::size_t(w);
        }
        const bool synced = ::fsync(fd) == 0;
        ::close(fd);
        if (!synced) return "fsync " + tmp + ": " + std::strerror(errno);
    }
    if (::rename(tmp.c_str(), p.c_str()) != 0) return "rename " + tmp + ": " + std::strerror(errno);
    if (!fsync_path(dir_, O_RDONLY | O_DIRECTORY)) return "fsync " + dir_ + ": " + std::strerror(errno);
    touch_locked(pub);
    return {};
}

std::string JwtDirStore::save(const std::string& pub, const std::string& jwt, bool* changed) {
    if (!is_valid_public(kAccount, pub) && !is_valid_public(kOperator, pub)) return "invalid public key";
    std::lock_guard lk(mu_);
    auto old = read_all(path(pub));
    if (changed) *changed = !old || *old != jwt;
    if (old && *old == jwt) return {};
    return write_locked(pub, jwt);
}

std::string JwtDirStore::save_if_newer(const std::string& pub, const std::string& jwt, bool* written) {
    if (written) *written = false;
    if (!is_valid_public(kAccount, pub)) return "invalid public key";
    std::lock_guard lk(mu_);
    auto old = read_all(path(pub));
    if (old && !old->empty()) {
        auto fresh = decode(jwt);
        if (!fresh) return fresh.error();
        if (auto existing = decode(*old)) {
            if (existing->jti == fresh->jti || existing->iat > fresh->iat) return {};
            if (fresh->sub != pub) return "jwt subject nkey and provided nkey do not match";
            if (existing->sub != fresh->sub) return "subject of existing and new jwt do not match";
        }
    }
    std::string err = write_locked(pub, jwt);
    if (written) *written = err.empty();
    return err;
}

std::string JwtDirStore::remove(const std::string& pub) {
    if (!is_valid_public(kAccount, pub)) return "invalid public key";
    std::lock_guard lk(mu_);
    const std::string p = path(pub);
    std::error_code ec;
    if (!fs::exists(p, ec)) return {};
    if (evict_) {
        fs::remove(p, ec);
        std::erase(lru_, pub);
        if (ec) return "remove: " + ec.message();
    } else if (::rename(p.c_str(), (p + ".deleted").c_str()) != 0) {
        return std::string("rename: ") + std::strerror(errno);
    }
    fsync_path(dir_, O_RDONLY | O_DIRECTORY);
    return {};
}

std::vector<std::string> JwtDirStore::pack() const {
    std::vector<std::string> out;
    for (const auto& pub : list())
        if (auto t = read_all(path(pub))) out.push_back(pub + "|" + *t);
    return out;
}

std::string JwtDirStore::hash() const {
    std::string h(32, '\0');
    for (const auto& pub : list()) {
        auto t = read_all(path(pub));
        if (!t) continue;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_Digest(t->data(), t->size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) continue;
        for (std::size_t i = 0; i < 32; ++i) h[i] = char(h[i] ^ char(md[i]));
    }
    return h;
}

std::vector<std::string> JwtDirStore::list() const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    std::error_code ec;
    const std::int64_t now = std::time(nullptr);
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
        if (e.path().extension() != ".jwt") continue;
        const std::string pub = e.path().stem().string();
        if (!is_valid_public(kAccount, pub)) continue;
        if (auto t = read_all(e.path().string())) {
            auto c = decode(*t);
            if (c && c->exp != 0 && c->exp < now) continue;  // expired: not listed
        }
        out.push_back(pub);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace osprey::server::auth
