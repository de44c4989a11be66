// Operator mode's state inside the server (server.cpp, jwt_accounts.cpp): the trusted keys,
// the account JWTs in force, and the resolver's directory.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/auth/checks.h"
#include "server/auth/claims.h"
#include "server/auth/jwt_dir_store.h"
#include "server/server.h"

namespace osprey::server {

// Claims times are unix seconds.
inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct Server::Operator {
    auth::Trust trust;
    std::vector<auth::OperatorClaims> operators;
    // Held for `jwts` and for every rewiring of the JWT accounts after the start (updates
    // arrive on the system account's handlers, CONNECTs read `jwts` on every loop).
    mutable std::mutex mu;
    std::map<std::string, std::string> jwts;  // account key -> the JWT in force
    std::unique_ptr<auth::JwtDirStore> dir;   // the FULL resolver's directory
};

}  // namespace osprey::server
