// An account: its own subject space (a Sublist), and the exports and imports through which
// messages cross to other accounts. Nothing crosses unless exported and imported.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/message.h"
#include "server/options.h"
#include "subjects/sublist.h"

namespace osprey::server {

class Account {
public:
    explicit Account(std::string name) : name_(std::move(name)) {}
    const std::string& name() const { return name_; }
    subjects::Sublist& sublist() { return sublist_; }

    // Delivers `m` to every interested subscription of this account: all plain ones and one
    // member of each queue group. Returns how many received it.
    int route(const Message& m);
    // For one-shot subjects (replies to requests): does not fill the match cache.
    int route_reply(const Message& m);
    // Delivers `m` to the subscribers of `to` (a consumer's inbox or deliver subject) with
    // its own subject in the MSG line.
    int deliver_as(std::string_view to, const Message& m, bool cache);
    // The same, with a match result the caller already has (a connection's local cache).
    int deliver(const subjects::MatchResult& r, const Message& m);

    void add_export(const ExportDef& e) { exports_.push_back(e); }
    // Operator mode, an account JWT updated: its exports as the new claims say. (Exports are
    // read only while imports are wired: at start, and under the server's JWT lock.)
    void set_exports(std::vector<ExportDef> e) { exports_ = std::move(e); }
    // Is `subject` exported (as a service or a stream) to account `importer`?
    bool exports_to(bool service, std::string_view subject, const std::string& importer) const;
    // The response type of the service export covering `subject` (singleton, stream, chunked).
    std::string service_response(std::string_view subject) const;
    bool exports_stream_matching(std::string_view subject) const;

    // The imports wired so far, for nats-server's cycle checks: `remote` in `from`'s subject
    // space arrives here as `local`.
    struct ImportRecord {
        bool service;
        Account* from;
        std::string remote, local;
        // The subscription that carries it, and the account whose sublist holds it (the
        // importer's for a service, the exporter's for a stream): what unwiring removes.
        subjects::SubPtr wired;
        Account* wired_in = nullptr;
    };
    const std::vector<ImportRecord>& imports() const { return imports_; }
    void add_import(ImportRecord r) { imports_.push_back(std::move(r)); }
    // Removes every import of this account from the sublists (an account JWT update rewires).
    void unwire_imports();

    std::atomic<std::uint64_t> in_msgs{0}, in_bytes{0}, out_msgs{0}, out_bytes{0};
    std::atomic<int> connections{0};
    // Operator mode: the account JWT's connection limit (-1: none); an update changes it live.
    std::atomic<std::int64_t> max_connections{-1};
    // Counts a new connection unless the account is at max_connections (false then).
    bool add_connection() {
        const std::int64_t max = max_connections.load(std::memory_order_relaxed);
        if (max < 0) {
            connections.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        int n = connections.load(std::memory_order_relaxed);
        do {
            if (n >= max) return false;
        } while (!connections.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
        return true;
    }

private:
    std::string name_;
    subjects::Sublist sublist_;
    std::vector<ExportDef> exports_;
    std::vector<ImportRecord> imports_;
};

// Wires an import of `importer` from `exporter` into the two sublists. Returns an error text
// when the exporter does not export that subject to the importer.
std::string wire_import(Account& importer, Account& exporter, const ImportDef& imp);

}  // namespace osprey::server
