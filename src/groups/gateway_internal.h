// The gateway's own types, shared by its files (gateway.cpp: set-up, HTTP dispatch and auth;
// rest.cpp: the /v1/groups resource; members.cpp: members, pulls, deliveries and acks;
// ws_session.cpp: WebSocket members; dead_letters.cpp). Everything here lives on the
// monitor's loop: no locks.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "groups/gateway.h"
#include "groups/group_spec.h"
#include "groups/internal_client.h"
#include "server/http_api.h"
#include "server/options.h"

namespace osprey::groups {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
template <typename T>
using Awaitable = boost::asio::awaitable<T>;

// A delivered event: a message of the stream with the reply subject that acknowledges it.
struct Event {
    std::uint64_t seq = 0;
    std::uint64_t attempt = 1;
    std::int64_t ts_ns = 0;
    std::string subject, ack_subject, headers, payload;
    SteadyClock::time_point parked_until{};  // parked: the consumer gives it out again then
};

struct Group;

// One member of a group on this server: a WebSocket subscription or an HTTP fetcher.
struct Member {
    std::string id;
    bool ws = false;
    SystemClock::time_point joined = SystemClock::now();
    SteadyClock::time_point last_seen = SteadyClock::now();  // HTTP: its last fetch
    int inflight = 0;   // events it holds
    int requested = 0;  // events asked of the consumer for it, not arrived yet
    bool closed = false;
    // Takes an event (a WebSocket frame queued, an HTTP fetch's answer filled); false when it
    // can not now (the event goes to another member).
    std::function<bool(Event&)> take;
    // HTTP: a fetch is waiting for its events.
    bool asking = false;
    // WebSocket: the group was deleted (the member hears subscription_error).
    std::function<void()> group_deleted;
    // Its pull requests: replies come to <prefix>.<pull>, each on a subscription of its own,
    // so that once a request ends here (or the member leaves) the consumer drops it.
    std::string prefix;
    std::uint64_t next_pull = 0;
    struct Pull {
        int remaining = 0;
        std::function<void()> done;
        std::uint64_t sub = 0;
        std::shared_ptr<boost::asio::steady_timer> timer;
    };
    std::unordered_map<std::uint64_t, Pull> pulls;
    std::uint64_t refused = 0;  // pulls the consumer refused (409): retried by the sweep
};

struct Inflight {
    std::weak_ptr<Member> member;
    std::string ack_subject;
    SteadyClock::time_point deadline;
    std::uint64_t attempt = 1;
    bool settling = false;  // an ack is on its way
};

struct AccountCtx;

// A group as this server's gateway runs it.
struct Group {
    AccountCtx* acc = nullptr;
    GroupSpec spec;
    std::map<std::string, std::shared_ptr<Member>> members;
    std::unordered_map<std::uint64_t, Inflight> inflight;  // by stream sequence
    std::deque<Event> parked;  // arrived for a member that had left: the next one takes them
    std::set<std::uint64_t> terminated;  // dead-lettered here by a member's term (bounded)
    bool deleted = false;
    boost::json::object last_info;  // the consumer info last seen (monitoring)
};

// The errors of the contract: an HTTP status and its {"code","message"}.
struct ApiFailure {
    int status = 500;
    std::string code = "internal", message;
};
inline server::HttpResponse failure_response(const ApiFailure& f) {
    return {f.status, "application/json", server::http_error_json(f.code, f.message)};
}

// Who is calling: the account the groups live in and the user's permissions (null: all).
struct Caller {
    server::Account* account = nullptr;
    const server::Permissions* permissions = nullptr;
    std::shared_ptr<const server::Permissions> owned;
};

struct AccountCtx {
    server::Account* account = nullptr;
    std::unique_ptr<InternalClient> client;
    std::map<std::string, std::shared_ptr<Group>> groups;  // known here, by name
    bool advisories = false;
};

}  // namespace osprey::groups

namespace osprey::server {
class Server;
}

namespace osprey::groups {

class WsSession;

class GatewayCore : public std::enable_shared_from_this<GatewayCore> {
public:
    GatewayCore(server::Server& srv, bool jetstream);
    boost::asio::io_context& loop();
    server::Server& server() { return srv_; }
    bool jetstream() const { return jetstream_; }
    void start();
    void stop();
    void schedule_sweep();

    // gateway.cpp
    void serve(server::HttpRequest&& req, server::HttpRespond respond);
    std::expected<Caller, ApiFailure> authenticate(const std::string& authorization, const std::string& token,
                                                   const std::string& remote);
    AccountCtx& context(server::Account& acc);
    static bool may_subscribe(const Caller& c, const std::string& pattern);
    static bool may_publish(const Caller& c, const std::string& subject);

    // rest.cpp: the resource. Each answers the request (or a failure).
    Awaitable<server::HttpResponse> rest(Caller caller, server::HttpRequest req);
    // The group of that name in the account (looked up in JetStream when not known here),
    // with its consumer info.
    // `fresh`: its consumer info asked now (GET, PATCH, DELETE); else a group known here is
    // taken as it is (members' fetch and ack: a deleted consumer shows in their pulls).
    Awaitable<std::expected<std::pair<std::shared_ptr<Group>, boost::json::object>, ApiFailure>> find_group(
        AccountCtx& ctx, const std::string& name, bool fresh = true);
    // A JetStream API request: its JSON answer, or the failure its error maps to.
    Awaitable<void> recheck(AccountCtx* ctx, std::string name);  // find_group, fresh, for its effects
    Awaitable<std::expected<boost::json::object, ApiFailure>> api(AccountCtx& ctx, std::string subject,
                                                                  std::string body);
    boost::json::object resource_json(Group& g, const boost::json::object& info, std::uint64_t dead_lettered);

    // members.cpp
    std::shared_ptr<Member> join(Group& g, const std::string& id, bool ws);
    void leave(Group& g, const std::shared_ptr<Member>& m);
    // Asks the consumer for what the member has room for (a WebSocket member keeps a pull
    // open; `no_wait` for an HTTP fetch's immediate part; `batch` 0: all the room).
    void pull(Group& g, const std::shared_ptr<Member>& m, int batch, bool no_wait,
              std::chrono::milliseconds expires, std::function<void()> done = {});
    void top_up(Group& g, const std::shared_ptr<Member>& m);
    // A pull request ends (answered, expired, ended here): what it did not bring is no longer
    // asked for.
    void end_pull(Group& g, const std::shared_ptr<Member>& m, std::uint64_t id, bool retry_soon);
    void hand_out(Group& g, Event ev, const std::shared_ptr<Member>& to);
    void drain_parked(Group& g);
    // ack, nak (delay), term of an event the group holds: `done` gets the failure, if any.
    enum class AckType { Ack, Nak, Term };
    void settle(Group& g, std::uint64_t seq, AckType type, std::int64_t delay_ms,
                std::function<void(std::optional<ApiFailure>)> done);
    void sweep();  // holds whose time passed; HTTP members gone quiet
    Awaitable<server::HttpResponse> fetch(Caller caller, std::shared_ptr<Group> g, std::string body);
    Awaitable<server::HttpResponse> ack(Caller caller, std::shared_ptr<Group> g, std::string body);
    void group_deleted(Group& g);

    // dead_letters.cpp
    void listen_advisories(AccountCtx& ctx);
    // Publishes the stored message `seq` of the group's stream to its dead-letter subject.
    Awaitable<std::optional<ApiFailure>> dead_letter(std::shared_ptr<Group> g, std::uint64_t seq,
                                                     std::string reason, std::uint64_t deliveries);
    Awaitable<std::uint64_t> count_dead_letters(AccountCtx& ctx, const GroupSpec& g);
    Awaitable<server::HttpResponse> redrive(std::shared_ptr<Group> g, std::string body);

    // rest.cpp: every group of the account known here (at start: dead letters of groups
    // nobody asked about yet still go out), and the /jsz view of them.
    Awaitable<void> load_groups(AccountCtx& ctx);
    Awaitable<void> refresh_monitoring();
    std::string jsz_groups() const;

    // ws_session.cpp
    void upgrade(std::unique_ptr<server::HttpUpgrade> up);
    std::set<WsSession*> sessions;

private:
    server::Server& srv_;
    bool jetstream_;
    std::map<server::Account*, std::unique_ptr<AccountCtx>> accounts_;
    std::unique_ptr<boost::asio::steady_timer> sweeper_;
    mutable std::mutex jsz_mu_;  // /jsz is read on any thread
    std::string jsz_groups_ = "[]";
    bool refreshing_ = false;
    unsigned ticks_ = 0;
    bool stopped_ = false;
};

// Events as members see them (event_json.cpp).
std::string http_event_json(const Event& e);  // an object of the "events" array
std::string ws_event_json(const Event& e, const std::string& subscription_id);
std::string base64_encode(std::string_view in);
std::optional<std::string> base64_decode(std::string_view in);
// A message's headers as {"name":"value"} (the first value of a name), without the status line.
boost::json::object headers_json(std::string_view headers);
// Each "Name: value" line of a message's headers.
void for_each_header(std::string_view headers,
                     const std::function<void(std::string_view name, std::string_view value, std::string_view line)>& fn);
// Parses "$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>" into `e`.
bool parse_ack_subject(std::string_view reply, Event& e);
std::string rfc3339_now();
std::string format_time(SystemClock::time_point t);

}  // namespace osprey::groups
