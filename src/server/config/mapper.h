// Internal to the config mapping: typed access to conf values with nats-server's error
// texts ("file:line:col: ..."), and the rule for keys osprey does not take.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "server/conf.h"
#include "server/options.h"

namespace osprey::server::config {

struct ConfigError {
    std::string msg;
};

std::string lower(std::string_view s);

class Mapper {
public:
    Mapper(std::string file, Options& o) : file_(std::move(file)), o_(o) {}

    [[noreturn]] void fail(const conf::Value& v, const std::string& msg) const;
    // nats-server refuses a key it does not know, naming its position; a key that only serves
    // as a $variable is not a setting. Collected, not thrown: nats-server reads the whole file
    // and names every unknown key (one line each), so a user fixes them in one go.
    void unknown(const std::string& key, const conf::Value& v) const;
    // A nats-server key osprey does not implement yet: refused by name when running without
    // it could mislead (a port that would not listen, a check that would not happen), else a
    // warning by name at start-up.
    void not_implemented(const std::string& key, const conf::Value& v, bool refuse) const;

    std::string str(const conf::Value& v, const std::string& key) const;
    std::int64_t integer(const conf::Value& v, const std::string& key) const;
    bool boolean(const conf::Value& v, const std::string& key) const;
    std::int64_t duration_ms(const conf::Value& v, const std::string& key) const;  // seconds or "2s"
    std::vector<std::string> strings(const conf::Value& v, const std::string& key) const;
    void hostport(const conf::Value& v, std::string& host, int& port, const std::string& key) const;

    // The blocks (auth.cpp: authorization, accounts; top.cpp: the top level, jetstream).
    void authorization(const conf::Value& v);
    void accounts(const conf::Value& v);
    void jetstream(const conf::Value& v);
    void cluster(const conf::Value& v);
    void resolver_map(const conf::Value& v);  // resolver { type: full ... }
    // transport.cpp: a tls {} block (checked, not loaded), and the websocket {} block.
    transport::TlsConfig tls(const conf::Value& v) const;
    void websocket(const conf::Value& v);
    void apply(const conf::Map& top);

private:
    void apply_key(const std::string& k, const conf::Value& v);  // one top-level key

private:
    Permissions permissions(const conf::Value& v) const;
    SubjectPermission subject_permission(const conf::Value& v) const;
    // A users array: named users into `users`, nkey users into `nkeys`.
    void users(const conf::Value& v, std::vector<User>& users, std::vector<NkeyUser>& nkeys) const;
    ExportDef export_def(const conf::Value& v) const;
    ImportDef import_def(const conf::Value& v) const;
    void account_jetstream(const conf::Value& v, AccountDef& def) const;
    // nats-server's cross-checks of the auth settings once all is read.
    void check_auth() const;
    // nats-server's validateTrustedOperators and the system account lookup in operator mode.
    void check_operator();
    bool system_account_set() const { return system_set_; }
    // nats-server's import wiring, done here on scratch accounts so that `-t` refuses what a
    // start would: cycles, imports of what is not exported.
    void check_imports() const;
    const conf::Value* auth_block_ = nullptr;  // where the authorization block is
    const conf::Value* accounts_block_ = nullptr;  // where the accounts block is
    std::map<std::string, const conf::Value*> users_at_;  // account -> its users array
    bool auth_users_array_ = false;            // it has a users array (even empty)
    bool system_set_ = false;                  // system_account given (or by the operator)

    std::string file_;
    Options& o_;
    mutable std::vector<std::string> errors_;  // one line per refused key, in file order
};

}  // namespace osprey::server::config
