// A NATS client inside the server, in one account: the gateway reaches the JetStream API and
// its consumers through the same subjects a NATS client would use, so a group behaves as the
// durable consumer it is (in a cluster too, where the API and the consumer may answer from
// another server). Everything it hands back runs on one loop (the monitor's), so the gateway
// needs no locks; deliveries arrive on other threads and are copied and posted there.
#pragma once
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace osprey::server {
class Account;
struct Receiver;
}  // namespace osprey::server

namespace osprey::groups {

struct Msg {
    std::string subject, reply, headers, payload;
    std::string to;  // the subject it was routed by (an inbox), when not `subject`
    // "404" of a status message ("NATS/1.0 404 No Messages"), or "".
    std::string_view status() const;
};

class InternalClient {
public:
    InternalClient(server::Account& account, boost::asio::io_context& loop);
    ~InternalClient();
    InternalClient(const InternalClient&) = delete;
    InternalClient& operator=(const InternalClient&) = delete;

    server::Account& account() const { return account_; }
    boost::asio::io_context& loop() const { return loop_; }

    // A subscription whose messages run `fn` on the loop until unsubscribed.
    std::uint64_t subscribe(const std::string& subject, std::function<void(Msg&)> fn);
    void unsubscribe(std::uint64_t id);
    // A subject of this client's inbox whose messages run `fn` on the loop until dropped.
    std::string add_inbox(std::function<void(Msg&)> fn);
    void drop_inbox(const std::string& subject);
    // A subject prefix of its own ("_OSP_GWM.<random>.<n>"), outside the inbox, for a
    // subscription whose unsubscribe the consumer must see (a member's pull requests).
    std::string unique_prefix();

    void publish(std::string_view subject, std::string_view reply, std::string_view headers,
                 std::string_view payload);
    // The first answer, or nullopt after `timeout` (on the loop).
    void request(std::string_view subject, std::string_view headers, std::string_view payload,
                 std::chrono::milliseconds timeout, std::move_only_function<void(std::optional<Msg>)> done);

    template <typename Token>
    auto async_request(std::string subject, std::string headers, std::string payload,
                       std::chrono::milliseconds timeout, Token&& token) {
        return boost::asio::async_initiate<Token, void(std::optional<Msg>)>(
            [this](auto handler, std::string s, std::string h, std::string p, std::chrono::milliseconds t) {
                request(s, h, p, t, [handler = std::move(handler)](std::optional<Msg> m) mutable {
                    std::move(handler)(std::move(m));
                });
            },
            token, std::move(subject), std::move(headers), std::move(payload), timeout);
    }

    struct Shared;  // what deliveries on other threads reach (internal_client.cpp)

private:
    using SteadyClock = std::chrono::steady_clock;
    void arm_expiry();
    void on_inbox(Msg& m);
    void schedule_flush();

    server::Account& account_;
    boost::asio::io_context& loop_;
    std::shared_ptr<Shared> shared_;
    std::string inbox_prefix_;  // "_OSP_GW.<random>."
    std::uint64_t next_id_ = 0;
    std::unordered_map<std::uint64_t, std::shared_ptr<server::Receiver>> subs_;
    std::unordered_map<std::string, std::function<void(Msg&)>> inboxes_;  // by token after the prefix
    std::shared_ptr<server::Receiver> inbox_sub_;
    bool flush_posted_ = false;
    // Requests waiting for their answer, and when they time out.
    std::unordered_map<std::uint64_t, std::move_only_function<void(std::optional<Msg>)>> requests_;
    std::multimap<SteadyClock::time_point, std::uint64_t> deadlines_;
    boost::asio::steady_timer expiry_;
    bool expiry_armed_ = false;
};

}  // namespace osprey::groups
