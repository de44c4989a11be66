// The system account's events and requests, as nats-server 2.9.10 serves them to monitoring
// tools that use NATS instead of HTTP:
//   events   $SYS.ACCOUNT.<acc>.CONNECT / DISCONNECT, $SYS.ACCOUNT.<acc>.SERVER.CONNS,
//            $SYS.SERVER.<id>.CLIENT.AUTH.ERR (built only when someone listens);
//   requests $SYS.REQ.SERVER.PING[.<EP>], $SYS.REQ.SERVER.<id>.<EP> (STATSZ VARZ SUBSZ CONNZ ROUTEZ
//            GATEWAYZ LEAFZ ACCOUNTZ JSZ HEALTHZ), $SYS.REQ.ACCOUNT.<acc>.<EP> (SUBSZ CONNZ LEAFZ
//            JSZ INFO STATZ CONNS), answered as {"server":{...},"data":{...}} with the HTTP
//            monitoring bodies; every other account may ask $SYS.REQ.ACCOUNT.PING.CONNZ,
//            $SYS.REQ.SERVER.PING.CONNZ and $SYS.REQ.ACCOUNT.PING.STATZ about itself;
//   operator mode: the resolver's claims requests (claims_services.cpp).
// Requests are answered on the requester's loop; the bodies come from Monitor.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "server/message.h"
#include "server/server.h"

namespace osprey::server {

class Server;
class Account;
class Client;
enum class CloseReason;

class SystemServices {
public:
    explicit SystemServices(Server& server);  // subscribes the request handlers
    ~SystemServices();

    void client_connected(const Client& c);
    void client_disconnected(const Client& c, CloseReason reason);
    void auth_failed(const Client& c, const std::string& user);

    // Handlers (called by the receivers).
    void server_request(Account& from, const Message& m, std::string_view endpoint);
    void account_request(Account& from, const Message& m, const std::string& account,
                         std::string_view endpoint);

private:
    // The resolver's subjects (claims_services.cpp): CLAIMS.UPDATE in both forms (and the old
    // $SYS.ACCOUNT.<key>.CLAIMS.UPDATE), and with the full resolver CLAIMS.LOOKUP, LIST and
    // DELETE.
    void add_claims_handlers(Account& sys);
    void add_handler(Account& acc, std::string subject, std::function<void(const Message&)> fn, bool local);
    void add_account_handlers(Account& acc);  // what every account may ask about itself
    void claims_reply(Account& to, const Message& m, const Server::ClaimsReply& r);
    std::string server_info();  // the "server" object of every message
    std::string statsz_json();
    // The body of `endpoint` with the request's options, or nullopt when its filter does not
    // match this server (no answer then).
    std::optional<std::string> endpoint_data(std::string_view endpoint, const std::string& options,
                                             const std::string& account, std::string& error);
    void reply(Account& to, const Message& m, const std::string& body);
    void publish_event(const std::string& subject, const std::string& body);
    std::string client_json(const Client& c, bool closing);
    std::string account_conns_event(Account& a);

    Server& server_;
    std::atomic<std::uint64_t> seq_{0};
    std::mutex subs_mu_;  // accounts made while running add theirs
    std::vector<std::pair<Account*, std::shared_ptr<Receiver>>> subs_;
};

}  // namespace osprey::server
