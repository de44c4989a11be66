// The authorization and accounts blocks of a nats-server config.
#include "server/config/mapper.h"

#include "server/account.h"

#include <algorithm>

#include "server/auth/nkey.h"
#include "server/permissions.h"

namespace osprey::server::config {

SubjectPermission Mapper::subject_permission(const conf::Value& v) const {
    SubjectPermission p;
    if (v.is_map()) {
        for (const auto& [k, e] : v.map()) {
            auto key = lower(k);
            if (key == "allow") {
                p.allow = strings(e, k);
            } else if (key == "deny") {
                p.deny = strings(e, k);
            } else {
                unknown(k, e);
            }
        }
    } else {
        p.allow = strings(v, "permissions");
    }
    return p;
}

Permissions Mapper::permissions(const conf::Value& v) const {
    if (!v.is_map()) fail(v, "expected a map for permissions");
    Permissions p;
    for (const auto& [k, e] : v.map()) {
        auto key = lower(k);
        if (key == "publish" || key == "pub" || key == "import") {
            p.publish = subject_permission(e);
        } else if (key == "subscribe" || key == "sub" || key == "export") {
            p.subscribe = subject_permission(e);
        } else if (key == "allow_responses" || key == "publish_allow_responses") {
            ResponsePermission r;
            if (e.is_map()) {
                for (const auto& [rk, rv] : e.map()) {
                    auto rkey = lower(rk);
                    if (rkey == "max") {
                        r.max = integer(rv, rk);
                    } else if (rkey == "expires" || rkey == "ttl") {
                        r.expires_ms = duration_ms(rv, rk);
                    } else {
                        unknown(rk, rv);
                    }
                }
                if (r.max <= 0) r.max = 1;
                if (r.expires_ms <= 0) r.expires_ms = 2 * 60 * 1000;
                p.responses = r;
            } else if (boolean(e, k)) {
                p.responses = r;
            }
        } else {
            unknown(k, e);
        }
    }
    return p;
}

void Mapper::users(const conf::Value& v, std::vector<User>& out, std::vector<NkeyUser>& nkeys) const {
    if (!v.is_array()) fail(v, "expected an array of users");
    for (const auto& u : v.array()) {
        if (!u.is_map()) fail(u, "expected a map for a user");
        User user;
        NkeyUser nk;
        bool has_password = false;
        for (const auto& [k, e] : u.map()) {
            auto key = lower(k);
            if (key == "user" || key == "username") {
                user.username = str(e, k);
            } else if (key == "password" || key == "pass") {
                user.password = str(e, k);
                has_password = true;
            } else if (key == "permissions" || key == "permission" || key == "authorization") {
                user.permissions = permissions(e);
            } else if (key == "allowed_connection_types" || key == "connection_types" ||
                       key == "clients") {
                user.allowed_connection_types = strings(e, k);
            } else if (key == "nkey") {
                nk.nkey = str(e, k);
            } else {
                unknown(k, e);
            }
        }
        // nats-server's order: a user or an nkey; an nkey must be a user's public key and
        // comes without name or password.
        if (nk.nkey.empty() && user.username.empty()) fail(u, "User entry requires a user");
        if (!nk.nkey.empty()) {
            if (!auth::is_valid_public(auth::kUser, nk.nkey)) fail(u, "Not a valid public nkey for a user");
            if (!user.username.empty() || has_password || !user.password.empty())
                fail(u, "Nkey users do not take usernames or passwords");
            nk.permissions = std::move(user.permissions);
            nk.allowed_connection_types = std::move(user.allowed_connection_types);
            nkeys.push_back(std::move(nk));
            continue;
        }
        out.push_back(std::move(user));
    }
}

void Mapper::authorization(const conf::Value& v) {
    if (!v.is_map()) fail(v, "expected a map for \"authorization\"");
    auth_block_ = &v;
    for (const auto& [k, e] : v.map()) {
        auto key = lower(k);
        if (key == "user" || key == "username") {
            o_.username = str(e, k);
        } else if (key == "password" || key == "pass") {
            o_.password = str(e, k);
        } else if (key == "token") {
            o_.token = str(e, k);
        } else if (key == "users") {
            o_.users.clear();
            o_.nkeys.clear();
            users(e, o_.users, o_.nkeys);
            auth_users_array_ = true;
        } else if (key == "timeout") {
            o_.auth_timeout_ms = duration_ms(e, k);
            o_.auth_timeout_set = true;
        } else if (key == "default_permissions" || key == "default_permission" || key == "permissions") {
            o_.default_permissions = permissions(e);
        } else {
            unknown(k, e);
        }
    }
}

ExportDef Mapper::export_def(const conf::Value& v) const {
    if (!v.is_map()) fail(v, "expected a map for an export");
    ExportDef d;
    bool kind = false;
    for (const auto& [k, e] : v.map()) {
        auto key = lower(k);
        if (key == "stream" || key == "service") {
            d.service = key == "service";
            d.subject = str(e, k);
            kind = true;
        } else if (key == "accounts") {
            d.accounts = strings(e, k);
        } else if (key == "response" || key == "response_type") {
            auto r = lower(str(e, k));
            if (r == "single" || r == "singleton") d.response = "singleton";
            else if (r == "stream") d.response = "stream";
            else if (r == "chunk" || r == "chunked") d.response = "chunked";
            else fail(e, "unknown response type: \"" + str(e, k) + "\"");
        } else if (key == "threshold" || key == "response_threshold" || key == "response_max_time" ||
                   key == "response_time" || key == "latency") {
            not_implemented(k, e, false);
        } else if (key == "account_token_position") {
            not_implemented(k, e, true);
        } else {
            unknown(k, e);
        }
    }
    if (!kind) fail(v, "export needs \"stream\" or \"service\"");
    return d;
}

ImportDef Mapper::import_def(const conf::Value& v) const {
    if (!v.is_map()) fail(v, "expected a map for an import");
    ImportDef d;
    bool kind = false;
    for (const auto& [k, e] : v.map()) {
        auto key = lower(k);
        if (key == "stream" || key == "service") {
            d.service = key == "service";
            if (!e.is_map()) fail(e, "expected {account, subject} for an import");
            for (const auto& [ik, iv] : e.map()) {
                auto ikey = lower(ik);
                if (ikey == "account") d.account = str(iv, ik);
                else if (ikey == "subject") d.subject = str(iv, ik);
                else unknown(ik, iv);
            }
            if (d.account.empty() || d.subject.empty()) fail(e, "import needs \"account\" and \"subject\"");
            kind = true;
        } else if (key == "to") {
            d.to = str(e, k);
        } else if (key == "prefix") {
            d.prefix = str(e, k);
        } else if (key == "share") {
            not_implemented(k, e, false);
        } else {
            unknown(k, e);
        }
    }
    if (!kind) fail(v, "import needs \"stream\" or \"service\"");
    return d;
}

void Mapper::account_jetstream(const conf::Value& e, AccountDef& def) const {
    if (!e.is_map()) {
        def.jetstream = boolean(e, "jetstream");
        return;
    }
    def.jetstream = true;
    for (const auto& [jk, jv] : e.map()) {
        auto jkey = lower(jk);
        if (jkey == "enabled" || jkey == "enable") {
            def.jetstream = boolean(jv, jk);
        } else if (jkey == "disabled" || jkey == "disable") {
            def.jetstream = !boolean(jv, jk);
        } else if (jkey == "max_mem" || jkey == "max_memory" || jkey == "mem" || jkey == "memory" ||
                   jkey == "max_memory_store") {
            def.js_max_memory = integer(jv, jk);
        } else if (jkey == "max_file" || jkey == "max_store" || jkey == "max_disk" || jkey == "store" ||
                   jkey == "disk" || jkey == "max_file_store") {
            def.js_max_file = integer(jv, jk);
        } else if (jkey == "max_streams" || jkey == "streams") {
            def.js_max_streams = integer(jv, jk);
        } else if (jkey == "max_consumers" || jkey == "consumers") {
            def.js_max_consumers = integer(jv, jk);
        } else if (jkey == "max_bytes_required" || jkey == "max_stream_bytes" || jkey == "max_bytes" ||
                   jkey == "mem_max_stream_bytes" || jkey == "memory_max_stream_bytes" ||
                   jkey == "disk_max_stream_bytes" || jkey == "store_max_stream_bytes" ||
                   jkey == "max_ack_pending") {
            not_implemented(jk, jv, true);  // a limit that would not hold
        } else {
            unknown(jk, jv);
        }
    }
}

void Mapper::accounts(const conf::Value& v) {
    if (!v.is_map()) fail(v, "expected a map for \"accounts\"");
    accounts_block_ = &v;
    for (const auto& [name, a] : v.map()) {
        AccountDef def;
        def.name = name;
        if (a.is_map()) {
            for (const auto& [k, e] : a.map()) {
                auto key = lower(k);
                if (key == "users") {
                    users_at_[name] = &e;
                    users(e, def.users, def.nkeys);
                } else if (key == "exports") {
                    if (!e.is_array()) fail(e, "expected an array of exports");
                    for (const auto& x : e.array()) def.exports.push_back(export_def(x));
                } else if (key == "imports") {
                    if (!e.is_array()) fail(e, "expected an array of imports");
                    for (const auto& x : e.array()) def.imports.push_back(import_def(x));
                } else if (key == "jetstream") {
                    account_jetstream(e, def);
                } else if (key == "default_permissions") {
                    def.default_permissions = permissions(e);
                } else if (key == "nkey" || key == "mappings" || key == "maps" || key == "limits") {
                    not_implemented(k, e, true);
                } else {
                    unknown(k, e);
                }
            }
        }
        o_.accounts.push_back(std::move(def));
    }
}

void Mapper::check_auth() const {
    const conf::Value* at = auth_block_;
    auto refuse = [&](const std::string& msg) {
        if (at) fail(*at, msg);
        throw ConfigError{msg};
    };
    const bool single = !o_.username.empty() || !o_.password.empty();
    if (single && !o_.token.empty()) refuse("Cannot have a user/pass and token");
    bool account_users = false;
    for (const auto& a : o_.accounts) account_users = account_users || !a.users.empty() || !a.nkeys.empty();
    if (auth_users_array_) {
        if (!o_.username.empty()) refuse("Can not have a single user/pass and a users array");
        if (!o_.token.empty()) refuse("Can not have a token and a users array");
    }
    if (account_users) {
        if (!o_.username.empty()) refuse("Can not have a single user/pass and accounts");
        if (!o_.token.empty()) refuse("Can not have a token and accounts");
    }
    std::vector<std::string> names;
    const conf::Value* users_at = nullptr;  // where the users being checked are (nats-server names it)
    auto check_user = [&](const User& u) {
        if (std::find(names.begin(), names.end(), u.username) != names.end()) {
            const std::string msg = "Duplicate user \"" + u.username + "\" detected";
            if (users_at) fail(*users_at, msg);
            refuse(msg);
        }
        names.push_back(u.username);
        if (u.permissions)
            for (const auto* list : {&u.permissions->publish.allow, &u.permissions->publish.deny,
                                     &u.permissions->subscribe.allow, &u.permissions->subscribe.deny})
                if (auto e = invalid_permission_subject(*list)) refuse(*e);
    };
    for (const auto& a : o_.accounts) {
        auto it = users_at_.find(a.name);
        users_at = it == users_at_.end() ? nullptr : it->second;
        for (const auto& u : a.users) check_user(u);
    }
    users_at = nullptr;
    for (const auto& u : o_.users) check_user(u);
    std::vector<std::string> keys;
    auto check_nkey = [&](const NkeyUser& u) {
        if (std::find(keys.begin(), keys.end(), u.nkey) != keys.end())
            refuse("Duplicate nkey \"" + u.nkey + "\" detected");
        keys.push_back(u.nkey);
        if (u.permissions)
            for (const auto* list : {&u.permissions->publish.allow, &u.permissions->publish.deny,
                                     &u.permissions->subscribe.allow, &u.permissions->subscribe.deny})
                if (auto e = invalid_permission_subject(*list)) refuse(*e);
    };
    for (const auto& a : o_.accounts)
        for (const auto& u : a.nkeys) check_nkey(u);
    for (const auto& u : o_.nkeys) check_nkey(u);
    if (o_.default_permissions)
        for (const auto* list : {&o_.default_permissions->publish.allow, &o_.default_permissions->publish.deny,
                                 &o_.default_permissions->subscribe.allow, &o_.default_permissions->subscribe.deny})
            if (auto e = invalid_permission_subject(*list)) refuse(*e);
    if (!o_.no_auth_user.empty()) {
        // Only a user with a name can be the default one (nats-server's validateNoAuthUser).
        if (o_.operator_mode() && !o_.trusted_operators.empty())
            throw ConfigError{"no_auth_user not compatible with Trusted Operator"};
        if (names.empty() && !auth_users_array_)
            throw ConfigError{"no_auth_user: \"" + o_.no_auth_user + "\" present, but users are not defined"};
        if (std::find(names.begin(), names.end(), o_.no_auth_user) == names.end())
            throw ConfigError{"no_auth_user: \"" + o_.no_auth_user +
                              "\" not present as user in authorization block or account configuration"};
    }
}

}  // namespace osprey::server::config

namespace osprey::server::config {

void Mapper::check_imports() const {
    if (!accounts_block_) return;
    std::map<std::string, std::unique_ptr<Account>> scratch;
    for (const auto& def : o_.accounts) {
        auto& a = scratch[def.name];
        a = std::make_unique<Account>(def.name);
        for (const auto& e : def.exports) a->add_export(e);
    }
    for (const auto& def : o_.accounts) {
        for (const auto& imp : def.imports) {
            auto ex = scratch.find(imp.account);
            if (ex == scratch.end()) continue;  // refused at start, by name
            const std::string err = wire_import(*scratch[def.name], *ex->second, imp);
            if (!err.empty())
                fail(*accounts_block_, std::string("Error adding ") + (imp.service ? "service" : "stream") +
                                           " import \"" + imp.subject + "\": " + err);
        }
    }
}

}  // namespace osprey::server::config
