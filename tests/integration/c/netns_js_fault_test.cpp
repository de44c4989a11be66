// Replicated JetStream streams (R3) under real network faults: three servers, each in its own
// network namespace (tests/integration/common/netns.h), and nats.c publishers colocated with
// them. Every scenario is seeded (the seed is printed; OSPREY_SEED=<seed> replays the same
// choices: which follower, delays, partition lengths, flap period, retry counts), bounded, and
// runs on three osprey servers and on three nats-server 2.9.10 servers: what is expected is that
// no acknowledged message is lost or stored twice. nats-server meets that in (a) with a follower
// cut off and in (b); it fails (a) with the leader cut off, (c) and (d), so those are skipped for
// it (the comments at the tests say what it did; OSPREY_NETNS_JS_NATS_ALL=1 runs them anyway).
//
// Publishers publish one message at a time with a unique Nats-Msg-Id (payload = the id), retry a
// failed id a seeded number of times (so the stream's deduplication is exercised across leader
// changes and restarts), then move on, and record every acknowledgement: (seq, id, duplicate?,
// when the id was first sent, when this attempt was sent, when the ack came).
//
// The checks after every scenario (verify()):
//   - bounded wait until the three servers' /jsz report the same message count and last sequence;
//   - the stream is read message by message ($JS.API.STREAM.MSG.GET) from each server in turn:
//     MSG.GET is answered by the stream leader only, so each server is made the leader
//     (stream leader stepdown, bounded) and then read through a client in its own namespace;
//     all three copies must be identical;
//   - every acknowledged id is in the stream exactly once, at the acknowledged sequence; no id
//     is stored twice (a copy means deduplication failed); sequences 1..last have no holes;
//   - ack order: each publisher's acks have increasing sequences, and across publishers an ack
//     received before another message was first sent has the lower sequence;
//   - a durable consumer read throughout by a Reader (fetch one, AckSync it): every acknowledged
//     message reaches it, and (osprey) none whose ack was confirmed comes again.
// Timings are printed, never asserted; the only limits are bounded waits for progress (20 s for
// the majority to acknowledge during a cut, for a healed or restarted side to acknowledge again,
// for the servers to agree), whose expiry is a hang.
//
// Scenarios:
//   (a) MinorityPartition{Leader,Follower}: one server cut off (the stream leader's, or a seeded
//       follower); a publisher on each side. Nothing published on the minority side after the cut
//       is acknowledged before the heal (a duplicate ack of a message committed before the cut is
//       allowed); the majority keeps acknowledging (after a new leader if needed); after the heal
//       the minority side acknowledges again.
//   (b) KillAllThreeWhilePublishing: kill -9 of the three servers at once under three
//       publishers; restart; the publishers retry what was pending and go on.
//   (c) FlappingLeaderLink: the stream leader's link is cut and healed in turn for ~5 s
//       (NetnsLab::start_flap, seeded period) under three publishers.
//   (d) PausedLeaderIsReplacedAndCatchesUp: the stream leader's process SIGSTOPped for a seeded
//       3-6 s under three publishers (one on the paused server), then continued.
//   (e) ReplicasMoveWhilePublishingAndAServerIsCutAway: R3 scaled to R1 and back to R3 under
//       three publishers, a seeded server cut away during the scale-up.
//   (f), (g) NetnsJsFault5: five servers and an R5 stream; the leader and a follower cut away
//       together, or killed together.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest-spi.h>
#include "c/cluster_helpers.h"
#include "c/js_cluster_helpers.h"
#include "c/js_helpers.h"
#include "c/nats_helpers.h"
#include "common/netns.h"

using namespace osprey::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kStream = "F";
constexpr int kDefaultNodes = 3;  // NetnsJsFault5 runs five

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double since(Clock::time_point t) { return secs(Clock::now() - t); }

// ---- publishers ----------------------------------------------------------------------------

struct Ack {
    std::uint64_t seq = 0;
    std::string id;
    bool dup = false;
    Clock::time_point first_sent, sent, acked;
    std::string pub;
};

// One publisher thread on one connection: publishes ids <tag>-0, <tag>-1, ... one at a time,
// each attempt waiting at most 1 s for its ack; a failed id is retried `max_retries` times
// (same id) and then abandoned. The connection is made in the node's namespace (in_ns) and
// never reconnects; after a server restart attach() a new one and start() again: the pending
// id is retried first.
class Publisher {
public:
    Publisher(std::string tag, int node, int max_retries, int pause_us)
        : tag_(std::move(tag)), node_(node), max_retries_(max_retries), pause_us_(pause_us) {}
    ~Publisher() { stop(); }

    void attach(Conn nc) {
        nc_ = std::move(nc);
        js_.reset();
        if (nc_) {
            jsCtx* js = nullptr;
            jsOptions o;
            jsOptions_Init(&o);
            o.Wait = 1000;
            if (natsConnection_JetStream(&js, nc_.get(), &o) == NATS_OK) js_.reset(js);
        }
    }
    void detach() {
        stop();
        js_.reset();
        nc_.reset();
    }
    bool ready() const { return bool(js_); }
    void start() {
        stop();
        stop_ = false;
        th_ = std::thread([this] { run(); });
    }
    void request_stop() { stop_ = true; }
    void stop() {
        stop_ = true;
        if (th_.joinable()) th_.join();
    }

    const std::string& tag() const { return tag_; }
    int node() const { return node_; }
    std::vector<Ack> acks() {
        std::lock_guard l(mu_);
        return acks_;
    }
    // First ack whose attempt was sent at or after t (nullopt if none).
    std::optional<Ack> first_ack_sent_after(Clock::time_point t) {
        std::lock_guard l(mu_);
        for (auto& a : acks_)
            if (a.sent >= t) return a;
        return std::nullopt;
    }
    std::size_t acks_count() {
        std::lock_guard l(mu_);
        return acks_.size();
    }
    std::string stats() {
        std::lock_guard l(mu_);
        std::ostringstream o;
        o << tag_ << "@s" << node_ << ": " << attempts_ << " attempts, " << acks_.size() << " acks (" << dups_
          << " duplicate acks), " << abandoned_.size() << " ids abandoned, failures:";
        for (auto& [k, n] : fails_) o << " " << k << "=" << n;
        return o.str();
    }
    std::set<std::string> sent_ids() {
        std::lock_guard l(mu_);
        std::set<std::string> s;
        for (auto& [id, t] : first_sent_) s.insert(id);
        return s;
    }

private:
    void run() {
        const std::string subject = "ev." + tag_;
        while (!stop_) {
            const std::string id = tag_ + "-" + std::to_string(k_);
            const auto t = Clock::now();
            Clock::time_point first;
            {
                std::lock_guard l(mu_);
                first = first_sent_.emplace(id, t).first->second;
                ++attempts_;
            }
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.MsgId = id.c_str();
            po.MaxWait = 1000;
            jsPubAck* pa = nullptr;
            jsErrCode e = jsErrCode(0);
            const natsStatus s = js_Publish(&pa, js_.get(), subject.c_str(), id.data(), int(id.size()), &po, &e);
            const auto t2 = Clock::now();
            if (s == NATS_OK && pa) {
                std::lock_guard l(mu_);
                acks_.push_back(Ack{pa->Sequence, id, pa->Duplicate, first, t, t2, tag_});
                if (pa->Duplicate) ++dups_;
                jsPubAck_Destroy(pa);
                ++k_;
                tries_ = 0;
                if (pause_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us_));
                continue;
            }
            if (pa) jsPubAck_Destroy(pa);
            {
                std::lock_guard l(mu_);
                std::string what = natsStatus_GetText(s);
                if (e) what += "/" + std::to_string(int(e));
                ++fails_[what];
                if (++tries_ > max_retries_) {
                    abandoned_.push_back(id);
                    ++k_;
                    tries_ = 0;
                }
            }
            // A timeout already waited; a fast failure (no responders, closed) must not spin.
            if (s != NATS_TIMEOUT) std::this_thread::sleep_for(50ms);
        }
    }

    std::string tag_;
    int node_;
    int max_retries_;
    int pause_us_;  // between an ack and the next publish: keeps the streams short enough to read back
    Conn nc_;
    Js js_;
    std::thread th_;
    std::atomic<bool> stop_{true};
    std::uint64_t k_ = 0;  // the current id (only the publisher thread touches it while running)
    int tries_ = 0;
    std::mutex mu_;
    std::vector<Ack> acks_;
    std::map<std::string, Clock::time_point> first_sent_;
    std::map<std::string, int> fails_;
    std::vector<std::string> abandoned_;
    std::uint64_t attempts_ = 0, dups_ = 0;
};

// ---- a durable consumer's reader ----------------------------------------------------------

constexpr const char* kDurable = "R";

// One reader thread on one connection: fetches the durable pull consumer R one message at a
// time (so at most one delivery is in flight while it acks: a redelivery can only follow an
// ack the server did not apply in time), acks each with AckSync, and records every delivery
// and every confirmed ack. A redelivery (a higher delivery count) of a message whose ack was
// confirmed before is the bug it looks for; a copy with no higher count was sent before the
// confirmation (by a leader that was then cut off) and only arrived late: counted apart. Like a Publisher, it never reconnects: attach() a new connection after a
// restart.
class Reader {
public:
    explicit Reader(int node) : node_(node) {}
    ~Reader() { stop(); }
    void attach(Conn nc) {
        stop();
        sub_.reset();
        js_.reset();
        nc_ = std::move(nc);
        if (!nc_) return;
        jsCtx* js = nullptr;
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = 1000;
        if (natsConnection_JetStream(&js, nc_.get(), &o) != NATS_OK) return;
        js_.reset(js);
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = kStream;
        so.Consumer = kDurable;
        natsSubscription* sub = nullptr;
        jsErrCode err = jsErrCode(0);
        if (js_PullSubscribe(&sub, js_.get(), "ev.>", kDurable, nullptr, &so, &err) == NATS_OK) sub_.reset(sub);
    }
    void detach() {
        stop();
        sub_.reset();
        js_.reset();
        nc_.reset();
    }
    bool ready() const { return bool(sub_); }
    int node() const { return node_; }
    void start() {
        stop();
        stop_ = false;
        th_ = std::thread([this] { run(); });
    }
    void stop() {
        stop_ = true;
        if (th_.joinable()) th_.join();
    }
    std::set<std::uint64_t> delivered() {
        std::lock_guard l(mu_);
        std::set<std::uint64_t> s;
        for (auto& [q, n] : deliveries_) s.insert(q);
        return s;
    }
    std::size_t confirmed() {
        std::lock_guard l(mu_);
        return confirmed_.size();
    }
    std::vector<std::uint64_t> again() {
        std::lock_guard l(mu_);
        return again_;
    }
    std::size_t in_flight_copies() {
        std::lock_guard l(mu_);
        return in_flight_.size();
    }
    std::uint64_t deliveries() {
        std::lock_guard l(mu_);
        std::uint64_t n = 0;
        for (auto& [q, k] : deliveries_) n += k;
        return n;
    }

private:
    void run() {
        while (!stop_ && sub_) {
            natsMsgList list{};
            jsErrCode err = jsErrCode(0);
            if (natsSubscription_Fetch(&list, sub_.get(), 1, 1000, &err) != NATS_OK) continue;
            for (int i = 0; i < list.Count; ++i) {
                jsMsgMetaData* md = nullptr;
                if (natsMsg_GetMetaData(&md, list.Msgs[i]) != NATS_OK || !md) continue;
                const std::uint64_t seq = md->Sequence.Stream, count = md->NumDelivered;
                jsMsgMetaData_Destroy(md);
                {
                    std::lock_guard l(mu_);
                    ++deliveries_[seq];
                    if (auto c = confirmed_.find(seq); c != confirmed_.end()) {
                        // A redelivery counts the deliveries before it. A copy counted no higher
                        // than the confirmed one was sent before the confirmation and held up
                        // in the network (a cut link's TCP retransmission after the heal, while
                        // another leader delivered and confirmed it).
                        if (count > c->second) again_.push_back(seq);
                        else in_flight_.push_back(seq);
                    }
                }
                if (natsMsg_AckSync(list.Msgs[i], nullptr, &err) == NATS_OK) {
                    std::lock_guard l(mu_);
                    confirmed_.emplace(seq, count);
                }
            }
            natsMsgList_Destroy(&list);
        }
    }

    int node_;
    Conn nc_;
    Js js_;
    Sub sub_;
    std::thread th_;
    std::atomic<bool> stop_{true};
    std::mutex mu_;
    std::map<std::uint64_t, int> deliveries_;
    std::map<std::uint64_t, std::uint64_t> confirmed_;  // seq -> delivery count of the confirmed copy
    std::vector<std::uint64_t> again_, in_flight_;
};

// ---- the fixture ---------------------------------------------------------------------------

class NetnsJsFault : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        // The nats-server variants check the scenario against the reference, not osprey: a
        // failure there is nats-server 2.9.10's (it lost or reordered acknowledged messages
        // under some kills and cuts, see the skipped cases) and is reported as a skip with
        // every failed check printed, so that it never blocks CI on a flake of the reference.
        // OSPREY_NETNS_JS_NATS_STRICT=1 makes them failures again.
        if (is_nats_server(GetParam()) && !std::getenv("OSPREY_NETNS_JS_NATS_STRICT"))
            reference_checks_ = std::make_unique<::testing::ScopedFakeTestPartResultReporter>(
                ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &reference_results_);
        std::string why;
        if (!NetnsLab::available(&why)) GTEST_SKIP() << "network namespaces unavailable: " << why;
        t_test_ = Clock::now();
        lab_ = std::make_unique<NetnsLab>(n_);
        seed_ = lab_->seed();
        std::printf("[seed] %s %s: seed=%llu (OSPREY_SEED=%llu replays)\n", test_name().c_str(), kind(),
                    (unsigned long long)seed_, (unsigned long long)seed_);
        std::fflush(stdout);
        dir_ = "/tmp/osprey-netns-js-" + std::to_string(::getpid()) + "-" + lab_->prefix();
        std::filesystem::remove_all(dir_);
        nodes_.resize(n_);
        ctl_.resize(n_);
        for (int i = 0; i < n_; ++i) {
            std::filesystem::create_directories(dir_ + "/d" + std::to_string(i));
            std::string routes;
            for (int j = 0; j < n_; ++j)
                if (j != i) routes += (routes.empty() ? "" : ", ") + ("nats://" + lab_->ip(j) + ":6222");
            // Route PINGs every second, two unanswered close the route: a silent cut is noticed in
            // about 3 s (as in netns_cluster_test.cpp).
            std::ofstream(conf(i)) << "server_name: s" << i << "\nping_interval: \"1s\"\nping_max: 2\n"
                                   << "jetstream { store_dir: \"" << dir_ << "/d" << i << "\" }\n"
                                   << "cluster { name: C, listen: \"" << lab_->ip(i) << ":6222\", routes: [" << routes
                                   << "] }\n";
        }
        for (int i = 0; i < n_; ++i) start(i);
        const auto t0 = Clock::now();
        ASSERT_TRUE(wait_meta_leader(bound(25s))) << "no meta leader\n" << logs();
        std::printf("[timing] %s: meta leader after %.2f s\n", kind(), since(t0));
        ASSERT_TRUE(create_stream()) << logs();
        leader0_ = stream_leader(bound(15s));
        ASSERT_GE(leader0_, 0) << "the stream has no leader\n" << logs();
        ASSERT_TRUE(create_durable()) << logs();
        std::printf("[timing] %s: R3 stream created, leader s%d, %.2f s after start\n", kind(), leader0_, since(t0));
    }

    void TearDown() override {
        for (auto& p : pubs_) p->detach();
        for (auto& r : readers_) r->detach();
        for (auto& c : ctl_) c = {};
        const bool failed = HasFailure() || reference_failed();
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]) continue;
            const bool was_running = nodes_[i]->running();
            const int status = nodes_[i]->stop();
            if (was_running && !is_nats_server(GetParam())) {
                EXPECT_EQ(status, 0) << "s" << i << " exit status\n" << tail(nodes_[i]->log(), 8000);
            }
        }
        nodes_.clear();
        lab_.reset();
        if (!dir_.empty()) {
            if (failed || HasFailure() || reference_failed()) {
                std::printf("[keep] %s: stores kept in %s; logs:", kind(), dir_.c_str());
                for (auto& l : log_paths_) std::printf(" %s", l.c_str());
                std::printf("\n");
            } else {
                std::filesystem::remove_all(dir_);
                for (auto& l : log_paths_) std::filesystem::remove(l);
            }
        }
        if (t_test_ != Clock::time_point{})
            std::printf("[timing] %s %s: whole test %.1f s\n", test_name().c_str(), kind(), since(t_test_));
        if (reference_checks_) {
            reference_checks_.reset();
            std::string skipped;
            int failures = 0;
            for (int i = 0; i < reference_results_.size(); ++i) {
                const auto& r = reference_results_.GetTestPartResult(i);
                if (r.skipped()) {
                    skipped = r.message();
                } else if (r.failed()) {
                    ++failures;
                    std::printf("[reference failure] %s:%d: %s\n", r.file_name() ? r.file_name() : "?", r.line_number(),
                                r.message());
                }
            }
            if (failures > 0)
                GTEST_SKIP() << "nats-server 2.9.10 failed " << failures << " check(s) of this scenario, printed above "
                             << "as [reference failure] (seed " << seed_ << "; OSPREY_NETNS_JS_NATS_STRICT=1 fails on it)";
            if (!skipped.empty()) GTEST_SKIP() << skipped;
        }
    }

    bool reference_failed() const {
        for (int i = 0; i < reference_results_.size(); ++i)
            if (reference_results_.GetTestPartResult(i).failed()) return true;
        return false;
    }
    ::testing::TestPartResultArray reference_results_;
    std::unique_ptr<::testing::ScopedFakeTestPartResultReporter> reference_checks_;

    // ---- servers and clients ----

    std::string conf(int i) const { return dir_ + "/s" + std::to_string(i) + ".conf"; }
    void start(int i) {
        // A binary that cannot be executed for a moment (another build relinking osprey: EACCES,
        // ETXTBSY) is tried again, bounded; any other start failure throws at once.
        for (int attempt = 1;; ++attempt) {
            try {
                nodes_[std::size_t(i)] =
                    std::make_unique<NsServerProcess>(*lab_, i, GetParam(), std::vector<std::string>{"-c", conf(i)});
                break;
            } catch (const std::runtime_error& e) {
                if (attempt >= 20 || std::string(e.what()).find("execv failed") == std::string::npos) throw;
                std::printf("[note] s%d: %s could not be executed (being rebuilt?), again in 1 s\n", i, GetParam().c_str());
                std::this_thread::sleep_for(1s);
            }
        }
        log_paths_.push_back(nodes_[std::size_t(i)]->log_path());
    }
    NsServerProcess& node(int i) { return *nodes_[std::size_t(i)]; }
    const char* kind() const { return is_nats_server(GetParam()) ? "nats-server" : "osprey"; }
    // A wait bounded for osprey, and three times longer for nats-server: its elections take
    // 4-9 s each, and a full restart takes a meta election and then a stream election (10-13 s
    // on an idle machine, past 20 s once on a loaded CI machine running the ASan suite).
    std::chrono::milliseconds bound(std::chrono::milliseconds osprey) const {
        return is_nats_server(GetParam()) ? osprey * 3 : osprey;
    }
    static std::string test_name() {
        auto* ti = ::testing::UnitTest::GetInstance()->current_test_info();
        return ti ? std::string(ti->name()) : std::string();
    }

    // A connection from inside node i's namespace to node i (no reconnect).
    Conn connect_in(int i) {
        return lab_->in_ns(i, [&] {
            auto o = make_opts(node(i).url());
            natsConnection* c = nullptr;
            natsConnection_Connect(&c, o.get());
            return Conn(c);
        });
    }
    struct Ctl {
        Conn nc;
        Js js;
    };
    // A control client on node i (made again when its connection closed).
    jsCtx* ctl(int i) {
        auto& c = ctl_[std::size_t(i)];
        if (c.nc && natsConnection_Status(c.nc.get()) != NATS_CONN_STATUS_CONNECTED) c = {};
        if (!c.nc) {
            c.nc = connect_in(i);
            if (!c.nc) return nullptr;
            jsCtx* js = nullptr;
            jsOptions o;
            jsOptions_Init(&o);
            o.Wait = 2000;
            if (natsConnection_JetStream(&js, c.nc.get(), &o) != NATS_OK) {
                c = {};
                return nullptr;
            }
            c.js.reset(js);
        }
        return c.js.get();
    }
    natsConnection* ctl_conn(int i) { return ctl(i) ? ctl_[std::size_t(i)].nc.get() : nullptr; }

    std::string jsz(int i, const std::string& q = "") { return node(i).http_get("/jsz" + q, 2000); }

    bool wait_meta_leader(std::chrono::milliseconds within) {
        const auto end = Clock::now() + within;
        while (Clock::now() < end) {
            std::string l;
            bool same = true;
            for (int i = 0; i < n_ && same; ++i) {
                const std::string li = field(meta_of(jsz(i)), "leader");
                if (li.empty() || (!l.empty() && li != l)) same = false;
                l = li;
            }
            if (same) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    // A JetStream request through node 0's control client, tried again (bounded) until it
    // succeeds: right after the start the meta group may still be settling.
    bool with_retries(const char* what, std::chrono::milliseconds within,
                      const std::function<natsStatus(jsCtx*, jsErrCode*)>& request) {
        const auto end = Clock::now() + within;
        std::string last;
        while (Clock::now() < end) {
            jsCtx* js = ctl(0);
            if (!js) {
                std::this_thread::sleep_for(200ms);
                continue;
            }
            jsErrCode err = jsErrCode(0);
            const natsStatus s = request(js, &err);
            if (s == NATS_OK) return true;
            last = std::string(natsStatus_GetText(s)) + " err " + std::to_string(int(err));
            std::this_thread::sleep_for(300ms);
        }
        ADD_FAILURE() << what << " failed: " << last;
        return false;
    }

    // The stream F on ev.>, created R3, or updated to `replicas`.
    bool put_stream(int replicas, bool update, std::chrono::milliseconds within) {
        return with_retries(update ? "stream update" : "stream create", within, [=](jsCtx* js, jsErrCode* err) {
            jsStreamConfig cfg;
            jsStreamConfig_Init(&cfg);
            cfg.Name = kStream;
            const char* subjects[] = {"ev.>"};
            cfg.Subjects = subjects;
            cfg.SubjectsLen = 1;
            cfg.Storage = js_FileStorage;
            cfg.Replicas = replicas;
            jsStreamInfo* si = nullptr;
            const natsStatus s = update ? js_UpdateStream(&si, js, &cfg, nullptr, err)
                                        : js_AddStream(&si, js, &cfg, nullptr, err);
            if (si) jsStreamInfo_Destroy(si);
            return s;
        });
    }
    bool create_stream() { return put_stream(n_, false, 20s); }

    // The durable consumer the readers share (explicit acks, 5 s ack wait: longer than an
    // AckSync's 1 s wait, so a reader's own slowness never causes a redelivery).
    bool create_durable() {
        return with_retries("consumer create", bound(20s), [](jsCtx* js, jsErrCode* err) {
            jsConsumerConfig cc;
            jsConsumerConfig_Init(&cc);
            cc.Durable = kDurable;
            cc.AckPolicy = js_AckExplicit;
            cc.AckWait = 5'000'000'000;
            jsConsumerInfo* ci = nullptr;
            const natsStatus s = js_AddConsumer(&ci, js, kStream, &cc, nullptr, err);
            if (ci) jsConsumerInfo_Destroy(ci);
            return s;
        });
    }

    Reader& add_reader(int node) {
        readers_.push_back(std::make_unique<Reader>(node));
        Reader& r = *readers_.back();
        r.attach(connect_in(node));
        EXPECT_TRUE(r.ready()) << "the reader could not subscribe on s" << node;
        std::printf("[setup] %s: a reader of durable %s on s%d\n", kind(), kDurable, node);
        return r;
    }

    // After the faults and the publishers: the readers go on (bounded) until every
    // acknowledged message was delivered; then every acknowledged message must have been
    // delivered at least once, and (osprey; printed for nats-server, which confirms acks it
    // has not committed) none whose ack was confirmed may have come again.
    void verify_readers(const std::string& scenario) {
        if (readers_.empty()) return;
        std::set<std::uint64_t> acked;
        for (auto& p : pubs_)
            for (auto& a : p->acks()) acked.insert(a.seq);
        const auto t0 = Clock::now();
        std::vector<std::uint64_t> missing;
        while (true) {
            std::set<std::uint64_t> seen;
            for (auto& r : readers_) {
                auto d = r->delivered();
                seen.insert(d.begin(), d.end());
            }
            missing.clear();
            for (auto q : acked)
                if (!seen.count(q)) missing.push_back(q);
            if (missing.empty() || Clock::now() > t0 + bound(30s)) break;
            std::this_thread::sleep_for(200ms);
        }
        for (auto& r : readers_) r->stop();
        std::vector<std::uint64_t> again;
        std::uint64_t deliveries = 0;
        std::size_t confirmed = 0, late = 0;
        for (auto& r : readers_) {
            auto a = r->again();
            again.insert(again.end(), a.begin(), a.end());
            deliveries += r->deliveries();
            confirmed += r->confirmed();
            late += r->in_flight_copies();
        }
        std::printf("[result] %s %s: consumer %s: %zu acknowledged messages, %llu deliveries, %zu acks confirmed, "
                    "%zu confirmed ones delivered again, %zu late copies sent before a confirmation, %zu never "
                    "delivered (drained in %.2f s)\n",
                    kind(), scenario.c_str(), kDurable, acked.size(), (unsigned long long)deliveries, confirmed,
                    again.size(), late, missing.size(), since(t0));
        auto first = [](const std::vector<std::uint64_t>& v) { return v.empty() ? std::string() : std::to_string(v[0]); };
        EXPECT_TRUE(missing.empty()) << scenario << ": " << missing.size()
                                     << " acknowledged messages never reached the consumer, the first seq "
                                     << first(missing) << ", seed " << seed_ << "\n" << logs();
        if (!is_nats_server(GetParam())) {
            EXPECT_TRUE(again.empty()) << scenario << ": " << again.size()
                                       << " messages came again after their ack was confirmed, the first seq "
                                       << first(again) << ", seed " << seed_ << "\n" << logs();
        }
    }

    struct Info {
        int leader = -1;
        std::uint64_t msgs = 0, first = 0, last = 0;
    };
    // Stream info through node `via` (answered by the stream leader).
    std::optional<Info> stream_info(int via) {
        jsCtx* js = ctl(via);
        if (!js) return std::nullopt;
        jsStreamInfo* si = nullptr;
        jsErrCode err = jsErrCode(0);
        if (js_GetStreamInfo(&si, js, kStream, nullptr, &err) != NATS_OK || !si) return std::nullopt;
        Info in;
        if (si->Cluster && si->Cluster->Leader) in.leader = index_of(si->Cluster->Leader);
        in.msgs = si->State.Msgs;
        in.first = si->State.FirstSeq;
        in.last = si->State.LastSeq;
        jsStreamInfo_Destroy(si);
        if (in.leader < 0) return std::nullopt;
        return in;
    }
    // The stream leader as every running server's stream info names it (bounded); -1 if none.
    int stream_leader(std::chrono::milliseconds within, int not_this = -1) {
        const auto end = Clock::now() + within;
        while (Clock::now() < end) {
            int l = -1;
            bool same = true;
            for (int i = 0; i < n_ && same; ++i) {
                auto in = stream_info(i);
                if (!in || in->leader == not_this || (l >= 0 && in->leader != l)) same = false;
                else l = in->leader;
            }
            if (same && l >= 0) return l;
            std::this_thread::sleep_for(100ms);
        }
        return -1;
    }

    // This server's own copy, from /jsz: total messages and the stream's last sequence.
    struct Local {
        std::int64_t msgs = -1, last = -1;
        bool operator==(const Local& o) const { return msgs == o.msgs && last == o.last; }
    };
    Local local(int i) {
        const std::string j = jsz(i, "?accounts=true&streams=true");
        Local l;
        if (j.empty()) return l;
        const std::string m = field(j, "messages");
        if (!m.empty()) l.msgs = std::atoll(m.c_str());
        const auto sd = j.find("\"stream_detail\"");
        if (sd != std::string::npos) {
            const auto st = j.find("\"state\"", sd);
            if (st != std::string::npos) {
                const std::string ls = field(j, "last_seq", st);
                if (!ls.empty()) l.last = std::atoll(ls.c_str());
            }
        }
        return l;
    }
    std::string locals() {
        std::string s;
        for (int i = 0; i < n_; ++i) {
            auto l = local(i);
            s += " s" + std::to_string(i) + "{msgs=" + std::to_string(l.msgs) + " last=" + std::to_string(l.last) + "}";
        }
        return s;
    }

    static std::string tail(const std::string& s, std::size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }
    // Lines of every server's log that look like trouble, and each log's tail.
    std::string logs(std::size_t tail_chars = 2500) {
        std::string out;
        for (int i = 0; i < n_; ++i) {
            if (!nodes_[std::size_t(i)]) continue;
            const std::string l = node(i).log();
            out += "---- s" + std::to_string(i) + " (" + kind() + ", " + node(i).log_path() + ")\n";
            std::istringstream in(l);
            std::string line;
            int n = 0;
            while (std::getline(in, line) && n < 40) {
                std::string low = line;
                std::transform(low.begin(), low.end(), low.begin(), ::tolower);
                if (low.find("error") != std::string::npos || low.find("[err]") != std::string::npos ||
                    low.find("warn") != std::string::npos || low.find("[wrn]") != std::string::npos ||
                    low.find("panic") != std::string::npos || low.find("fatal") != std::string::npos) {
                    out += "  ! " + line + "\n";
                    ++n;
                }
            }
            out += "  ... tail:\n" + tail(l, tail_chars) + "\n";
        }
        return out;
    }

    Publisher& add_publisher(const std::string& tag, int node) {
        // Seeded: how often a failed id is retried before it is abandoned.
        const int retries = 1 + int(lab_->rng()() % 4);
        const int pause_us = 2000 + int(lab_->rng()() % 4000);
        pubs_.push_back(std::make_unique<Publisher>(tag, node, retries, pause_us));
        Publisher& p = *pubs_.back();
        p.attach(connect_in(node));
        EXPECT_TRUE(p.ready()) << tag << " could not connect to s" << node;
        std::printf("[setup] %s: publisher %s on s%d retries a failed id %d times, pauses %d us after an ack\n", kind(),
                    tag.c_str(), node, retries, pause_us);
        return p;
    }
    std::uint64_t seeded(std::uint64_t lo, std::uint64_t hi) { return lo + lab_->rng()() % (hi - lo + 1); }
    std::chrono::milliseconds seeded_ms(int lo, int hi) { return std::chrono::milliseconds(seeded(std::uint64_t(lo), std::uint64_t(hi))); }

    // Waits until `pub` has an ack for an attempt sent at or after t (bounded); seconds or -1.
    double wait_ack_after(Publisher& pub, Clock::time_point t, std::chrono::milliseconds within) {
        const auto end = Clock::now() + within;
        while (Clock::now() < end) {
            if (auto a = pub.first_ack_sent_after(t)) return secs(a->acked - t);
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }

    // ---- making a server the stream leader ----

    bool step_down(int via) {
        natsConnection* nc = ctl_conn(via);
        if (!nc) return false;
        natsMsg* reply = nullptr;
        const std::string subj = std::string("$JS.API.STREAM.LEADER.STEPDOWN.") + kStream;
        const natsStatus s = natsConnection_Request(&reply, nc, subj.c_str(), "", 0, 3000);
        bool ok = false;
        if (s == NATS_OK && reply) ok = data(reply).find("\"success\":true") != std::string::npos ||
                                         data(reply).find("\"success\": true") != std::string::npos;
        if (reply) natsMsg_Destroy(reply);
        return ok;
    }
    // Stepdowns (bounded) until `target` leads the stream. A stepdown picks the new leader by
    // itself: nats-server any current peer (at random), so plain stepdowns get there; osprey
    // one of the most current voters heard from lately (at random), so after one miss the
    // leader's links to the others but the target (and, with five servers, one more, so that it
    // keeps its majority) are cut for 1.2 s first (then they are not heard from and not chosen;
    // too short for the routes' PINGs to close anything). Returns whether target leads; `path` gets the leaders seen.
    bool make_leader(int target, int* stepdowns, std::string* path) {
        const auto end = Clock::now() + 20s;
        int attempts = 0;
        while (Clock::now() < end && attempts < 8) {
            const int l = stream_leader(5s);
            if (l == target) return true;
            if (l < 0) continue;
            const bool cut = !is_nats_server(GetParam()) && attempts >= 1;
            if (cut) {
                // The leader keeps a majority (itself, the target and as few others as that
                // needs, a different one each attempt), or it could not step down at all.
                int helpers = n_ / 2 + 1 - 2;
                for (int k = 0; k < n_; ++k) {
                    const int other = (l + 1 + attempts + k) % n_;
                    if (other == l || other == target) continue;
                    if (helpers > 0) --helpers;
                    else lab_->cut(l, other);
                }
                std::this_thread::sleep_for(1200ms);
            }
            ++attempts;
            ++*stepdowns;
            const bool ok = step_down(l);
            const int now = ok ? stream_leader(8s, l) : -1;  // a new one, whichever
            if (cut) lab_->heal();
            *path += (ok ? "" : " (stepdown refused)") + std::string(cut ? " -cut-> s" : " -> s") +
                     (now >= 0 ? std::to_string(now) : std::string("?"));
        }
        return stream_leader(5s) == target;
    }

    // Every message of the stream, by sequence, as the leader (node `via`'s client) returns it:
    // the id (payload) or "<missing>" / "<error ...>". A request that fails (no leader for a
    // moment: 10008, a timeout) is tried again while the budget lasts.
    std::vector<std::string> read_all(int via, std::uint64_t last, std::chrono::milliseconds budget = 15s) {
        std::vector<std::string> out;
        out.reserve(last);
        const auto end = Clock::now() + budget;
        for (std::uint64_t seq = 1; seq <= last; ++seq) {
            std::string got, err_text;
            while (got.empty()) {
                jsCtx* js = ctl(via);
                natsMsg* m = nullptr;
                jsErrCode err = jsErrCode(0);
                const natsStatus s = js ? js_GetMsg(&m, js, kStream, seq, nullptr, &err) : NATS_CONNECTION_CLOSED;
                if (s == NATS_OK && m) {
                    got = data(m);
                    const char* hid = nullptr;
                    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &hid) != NATS_OK || !hid || got != hid)
                        got = "<header mismatch: payload " + got + ", Nats-Msg-Id " + (hid ? hid : "none") + ">";
                } else if (s == NATS_NOT_FOUND || int(err) == 10037) {
                    got = "<missing>";
                } else if (Clock::now() >= end) {
                    got = "<error " + std::string(natsStatus_GetText(s)) + "/" + std::to_string(int(err)) + ">";
                } else {
                    std::this_thread::sleep_for(100ms);
                }
                if (m) natsMsg_Destroy(m);
            }
            out.push_back(got);
        }
        return out;
    }

    // ---- the checks ----

    void verify(const std::string& scenario) {
        const auto t0 = Clock::now();
        // 1. Converged: the same count and last sequence on every server, twice in a row.
        bool converged = false;
        Local ref;
        for (Local prev; Clock::now() < t0 + 20s;) {
            Local l0 = local(0);
            bool same = l0.msgs >= 0 && l0.last >= 0;
            for (int i = 1; i < n_ && same; ++i) same = local(i) == l0;
            if (same && l0 == prev) {
                converged = true;
                ref = l0;
                break;
            }
            prev = same ? l0 : Local{};
            std::this_thread::sleep_for(200ms);
        }
        const double t_conv = since(t0);
        EXPECT_TRUE(converged) << scenario << ": the servers' /jsz never agreed within 20 s:" << locals() << "\n"
                               << logs();
        std::printf("[timing] %s %s: /jsz agreed after %.2f s:%s\n", kind(), scenario.c_str(), t_conv, locals().c_str());

        // 2. Read the stream from each server in turn, as its leader.
        std::vector<std::vector<std::string>> copies(n_);
        std::vector<bool> read(n_, false);
        const int l0 = stream_leader(10s);
        EXPECT_GE(l0, 0) << scenario << ": no stream leader after the faults\n" << logs();
        std::vector<int> order;
        if (l0 >= 0) order.push_back(l0);
        for (int i = 0; i < n_; ++i)
            if (i != l0) order.push_back(i);
        int stepdowns = 0;
        std::string path = l0 >= 0 ? "s" + std::to_string(l0) : std::string("?");
        const auto t_read = Clock::now();
        std::uint64_t last = 0, msgs = 0;
        for (int target : order) {
            if (!make_leader(target, &stepdowns, &path)) {
                std::printf("[note] %s %s: s%d could not be made the stream leader; its copy is checked by /jsz only\n",
                            kind(), scenario.c_str(), target);
                continue;
            }
            auto in = stream_info(target);
            if (!in || in->leader != target) continue;
            if (last == 0) {
                last = in->last;
                msgs = in->msgs;
            }
            EXPECT_EQ(in->last, last) << scenario << ": s" << target << " as leader has last_seq " << in->last;
            EXPECT_EQ(in->msgs, msgs) << scenario << ": s" << target << " as leader has " << in->msgs << " messages";
            copies[std::size_t(target)] = read_all(target, std::max(in->last, last));
            auto after = stream_info(target);
            if (after && after->leader == target) read[std::size_t(target)] = true;
            else std::printf("[note] %s %s: s%d lost the leadership while being read\n", kind(), scenario.c_str(), target);
        }
        int nread = 0;
        for (bool r : read) nread += r;
        std::printf("[timing] %s %s: read %llu messages from %d server(s) as leader (%d stepdowns: %s) in %.2f s\n",
                    kind(), scenario.c_str(), (unsigned long long)last, nread, stepdowns, path.c_str(), since(t_read));
        if (converged) {
            EXPECT_EQ(std::int64_t(last), ref.last) << scenario;
            EXPECT_EQ(std::int64_t(msgs), ref.msgs) << scenario;
        }
        ASSERT_GT(nread, 0) << scenario << ": the stream could not be read from any server\n" << logs();

        std::vector<Ack> all;
        for (auto& p : pubs_) {
            auto v = p->acks();
            all.insert(all.end(), v.begin(), v.end());
        }
        std::set<std::string> acked_ids;
        for (auto& x : all) acked_ids.insert(x.id);
        auto list = [](const std::vector<std::string>& v) {
            std::string s;
            for (std::size_t k = 0; k < v.size() && k < 20; ++k) s += "\n    " + v[k];
            if (v.size() > 20) s += "\n    ... (" + std::to_string(v.size()) + " in all)";
            return s;
        };
        std::string pstats;
        for (auto& p : pubs_) pstats += "\n  " + p->stats();
        const std::string ctx = "\n  seed " + std::to_string(seed_) + " (OSPREY_SEED=" + std::to_string(seed_) +
                                " replays), " + kind() + ", " + scenario + ", /jsz:" + locals() + pstats;

        // 3. Every copy on its own: no holes, no id twice, every ack at its sequence.
        bool logs_shown = false;
        auto with_logs = [&] {
            if (logs_shown) return std::string();
            logs_shown = true;
            return "\n" + logs();
        };
        for (int srv = 0; srv < n_; ++srv) {
            if (!read[std::size_t(srv)]) continue;
            const auto& copy = copies[std::size_t(srv)];
            const std::string who = "s" + std::to_string(srv) + " (read as the stream leader): ";
            std::map<std::string, std::vector<std::uint64_t>> where;
            std::vector<std::string> holes, twice, missing, wrong_seq;
            for (std::size_t k = 0; k < copy.size(); ++k) {
                if (copy[k].empty() || copy[k][0] == '<') holes.push_back("seq " + std::to_string(k + 1) + ": " + copy[k]);
                else where[copy[k]].push_back(k + 1);
            }
            std::size_t unacked_stored = 0;
            for (auto& [id, seqs] : where) {
                unacked_stored += acked_ids.count(id) == 0;
                if (seqs.size() > 1) {
                    std::string t = id + (acked_ids.count(id) ? " (acknowledged)" : " (never acknowledged)") + " at";
                    for (auto q : seqs) t += " " + std::to_string(q);
                    twice.push_back(t);
                }
            }
            for (auto& x : all) {
                auto it = where.find(x.id);
                if (it == where.end())
                    missing.push_back(x.id + " (acked as seq " + std::to_string(x.seq) + (x.dup ? ", a duplicate ack" : "") +
                                      " by " + x.pub + ")");
                else if (it->second.size() == 1 && it->second[0] != x.seq)
                    wrong_seq.push_back(x.id + " acked as seq " + std::to_string(x.seq) + ", stored at " +
                                        std::to_string(it->second[0]));
            }
            std::printf("[result] %s %s: s%d: %zu stored, %zu acknowledged (%zu stored without an ack), %zu missing, %zu "
                        "stored twice, %zu holes, %zu at another sequence than acked\n",
                        kind(), scenario.c_str(), srv, copy.size(), all.size(), unacked_stored, missing.size(),
                        twice.size(), holes.size(), wrong_seq.size());
            EXPECT_TRUE(missing.empty()) << who << "acknowledged messages lost:" << list(missing) << ctx << with_logs();
            EXPECT_TRUE(twice.empty()) << who << "ids stored more than once:" << list(twice) << ctx << with_logs();
            EXPECT_TRUE(holes.empty()) << who << "sequences that could not be read:" << list(holes) << ctx;
            EXPECT_TRUE(wrong_seq.empty()) << who << "acks naming another sequence than the stored one:" << list(wrong_seq)
                                           << ctx << with_logs();
        }

        // 4. All copies identical (what differs: the first sequence, and the ids only one side has).
        int base = -1;
        for (int i = 0; i < n_; ++i) {
            if (!read[std::size_t(i)]) continue;
            if (base < 0) {
                base = i;
                continue;
            }
            const auto& x = copies[std::size_t(base)];
            const auto& y = copies[std::size_t(i)];
            std::size_t diff = 0, first = 0;
            for (std::size_t k = 0; k < std::max(x.size(), y.size()); ++k) {
                const std::string u = k < x.size() ? x[k] : "<none>", v = k < y.size() ? y[k] : "<none>";
                if (u != v && diff++ == 0) first = k;
            }
            if (diff == 0) continue;
            const std::set<std::string> sx(x.begin(), x.end()), sy(y.begin(), y.end());
            std::vector<std::string> only;
            for (auto& id : sx)
                if (!sy.count(id)) only.push_back(id + " only on s" + std::to_string(base));
            for (auto& id : sy)
                if (!sx.count(id)) only.push_back(id + " only on s" + std::to_string(i));
            ADD_FAILURE() << "the replicas differ: s" << base << " and s" << i << " at " << diff
                          << " sequences, the first at seq " << first + 1 << ": "
                          << (first < x.size() ? x[first] : "<none>") << " vs " << (first < y.size() ? y[first] : "<none>")
                          << list(only) << ctx << with_logs();
        }

        // 5. Ack order: per publisher increasing; across publishers, acked-before-first-sent
        // means a lower sequence.
        std::vector<std::string> order_bad;
        for (auto& p : pubs_) {
            auto v = p->acks();
            for (std::size_t k = 1; k < v.size(); ++k)
                if (v[k].seq <= v[k - 1].seq)
                    order_bad.push_back(p->tag() + ": " + v[k - 1].id + "@" + std::to_string(v[k - 1].seq) + " then " +
                                        v[k].id + "@" + std::to_string(v[k].seq));
        }
        {
            auto by_ack = all, by_sent = all;
            std::sort(by_ack.begin(), by_ack.end(), [](auto& x, auto& y) { return x.acked < y.acked; });
            std::sort(by_sent.begin(), by_sent.end(), [](auto& x, auto& y) { return x.first_sent < y.first_sent; });
            std::size_t i = 0;
            const Ack* max_before = nullptr;
            for (auto& y : by_sent) {
                while (i < by_ack.size() && by_ack[i].acked < y.first_sent) {
                    if (!max_before || by_ack[i].seq > max_before->seq) max_before = &by_ack[i];
                    ++i;
                }
                if (max_before && max_before->seq >= y.seq && order_bad.size() < 20)
                    order_bad.push_back(max_before->id + "@" + std::to_string(max_before->seq) + " was acked before " +
                                        y.id + " was first sent, which got seq " + std::to_string(y.seq));
            }
        }
        std::printf("[result] %s %s: %zu acks, %zu order violations%s\n", kind(), scenario.c_str(), all.size(),
                    order_bad.size(), pstats.c_str());
        EXPECT_TRUE(order_bad.empty()) << "sequence order differs from ack order:" << list(order_bad) << ctx;
    }

    void stop_publishers() {
        for (auto& p : pubs_) p->request_stop();
        for (auto& p : pubs_) p->stop();
    }

    // (a): cut `away` off (a minority); publishers on both sides.
    void minority_partition(const std::vector<int>& away, const std::string& scenario) {
        std::vector<int> rest;
        for (int i = 0; i < n_; ++i)
            if (std::find(away.begin(), away.end(), i) == away.end()) rest.push_back(i);
        const std::size_t mi = std::size_t(seeded(0, rest.size() - 1));  // seeded: which majority server publishes
        const int maj = rest[mi];
        Publisher& pmin = add_publisher("min", away[0]);
        Publisher& pmaj = add_publisher("maj", maj);
        Reader& reader = add_reader(rest[(mi + 1) % rest.size()]);  // the majority's other server
        const auto before = seeded_ms(800, 2000), hold = seeded_ms(4000, 6000);
        std::string cut;
        for (int a : away) cut += " s" + std::to_string(a);
        std::printf("[setup] %s %s: stream leader s%d, cutting%s away after %lld ms for at least %lld ms\n", kind(),
                    scenario.c_str(), leader0_, cut.c_str(), (long long)before.count(), (long long)hold.count());
        pmin.start();
        pmaj.start();
        reader.start();
        std::this_thread::sleep_for(before);
        const std::size_t acks_before = pmin.acks_count() + pmaj.acks_count();
        lab_->partition({away, rest});
        const auto t_cut = Clock::now();
        // The majority keeps (or starts again) acknowledging; the cut lasts at least `hold`, and
        // until the majority acknowledged something sent after the cut (bounded).
        const double first_maj = wait_ack_after(pmaj, t_cut, bound(20s));
        if (since(t_cut) < secs(hold)) std::this_thread::sleep_for(hold - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_cut));
        int maj_leader = -1;
        if (auto in = stream_info(rest[0])) maj_leader = in->leader;
        lab_->heal();
        const auto t_heal = Clock::now();
        const double cut_for = secs(t_heal - t_cut);
        // The formerly cut side acknowledges again (bounded).
        const double first_min_after = wait_ack_after(pmin, t_heal, bound(20s));
        std::this_thread::sleep_for(500ms);
        stop_publishers();

        // Nothing published on the minority side after the cut was acknowledged before the heal,
        // except duplicates of messages committed before the cut.
        std::vector<std::string> bad, dup_in_cut;
        std::size_t maj_in_cut = 0;
        for (auto& a : pmin.acks())
            if (a.acked > t_cut && a.acked < t_heal) {
                if (a.sent > t_cut && !a.dup) bad.push_back(a.id + "@" + std::to_string(a.seq));
                else dup_in_cut.push_back(a.id + "@" + std::to_string(a.seq) + (a.dup ? " (dup)" : " (sent before the cut)"));
            }
        for (auto& a : pmaj.acks()) maj_in_cut += a.acked > t_cut && a.acked < t_heal;
        std::printf("[timing] %s %s: %zu acks before the cut; cut %.2f s; majority's first ack %.3f s after the cut; "
                    "%zu majority acks during the cut; stream leader during the cut (majority's view) s%d; minority acks "
                    "during the cut: %zu fresh, %zu others; minority's first ack %.3f s after the heal\n",
                    kind(), scenario.c_str(), acks_before, cut_for, first_maj, maj_in_cut, maj_leader, bad.size(),
                    dup_in_cut.size(), first_min_after);
        for (auto& d : dup_in_cut) std::printf("[note] %s %s: minority ack during the cut: %s\n", kind(), scenario.c_str(), d.c_str());
        EXPECT_TRUE(bad.empty()) << "the cut-off server acknowledged " << bad.size()
                                 << " new messages during the partition (first: " << (bad.empty() ? "" : bad[0])
                                 << "), seed " << seed_ << "\n" << logs();
        EXPECT_GE(first_maj, 0) << "the majority acknowledged nothing sent after the cut within 20 s, seed " << seed_ << "\n" << logs();
        EXPECT_GE(first_min_after, 0) << "the healed server acknowledged nothing within 20 s of the heal, seed " << seed_ << "\n" << logs();
        verify_readers(scenario);
        verify(scenario);
    }

    std::unique_ptr<NetnsLab> lab_;  // first: destroyed last
    std::uint64_t seed_ = 0;
    std::string dir_;
    std::vector<std::unique_ptr<NsServerProcess>> nodes_;
    std::vector<std::string> log_paths_;
    std::vector<Ctl> ctl_;
    std::vector<std::unique_ptr<Publisher>> pubs_;
    std::vector<std::unique_ptr<Reader>> readers_;
    int leader0_ = -1;
    Clock::time_point t_test_{};
    int n_ = kDefaultNodes;  // servers, and the stream's replicas
};

// The same on five servers with an R5 stream.
class NetnsJsFault5 : public NetnsJsFault {
protected:
    NetnsJsFault5() { n_ = 5; }
};

// (a) The stream leader's server cut away: it must not acknowledge; the other two elect a new
// leader and go on.
//
// Skipped for nats-server 2.9.10, which fails it: the old leader, cut off while publishes are in
// flight, comes back with a copy that lacks an acknowledged message and numbers everything after
// it one lower. Seen with OSPREY_SEED=10535488681280691924 (and on other seeds): s1 led, was cut
// away after 445 acks; after the heal its /jsz stayed one message short (713 vs 714) for 20 s,
// and read as the stream leader it lacked min-328 (acknowledged as seq 455) and held min-329 at
// 455 (acknowledged as 456), min-330 at 457 (acknowledged as 458), ... (259 acks at another
// sequence). Its majority also took 15-20 s to acknowledge again (its route to the cut server
// stayed up until the 10 s write deadline). OSPREY_NETNS_JS_NATS_ALL=1 runs it anyway.
TEST_P(NetnsJsFault, MinorityPartitionOfTheLeader) {
    if (is_nats_server(GetParam()) && !std::getenv("OSPREY_NETNS_JS_NATS_ALL"))
        GTEST_SKIP() << "nats-server 2.9.10 loses an acknowledged message on the old leader's replica here "
                        "(see the comment; OSPREY_NETNS_JS_NATS_ALL=1 runs it)";
    minority_partition({leader0_}, "partition-leader");
}

// (a) A follower (seeded) cut away: it cannot acknowledge through the leader it cannot reach; the
// leader goes on with the other follower.
TEST_P(NetnsJsFault, MinorityPartitionOfAFollower) {
    const int f = (leader0_ + 1 + int(seeded(0, 1))) % n_;
    minority_partition({f}, "partition-follower");
}

// (b) kill -9 of all three servers at once while three publishers publish; restart all three.
TEST_P(NetnsJsFault, KillAllThreeWhilePublishing) {
    std::vector<Publisher*> ps;
    for (int i = 0; i < n_; ++i) ps.push_back(&add_publisher("p" + std::to_string(i), i));
    Reader& reader = add_reader(int(seeded(0, n_ - 1)));
    for (auto* p : ps) p->start();
    reader.start();
    const auto before = seeded_ms(1000, 3000);
    std::this_thread::sleep_for(before);
    // At once: every SIGKILL is sent before any is reaped.
    for (int i = 0; i < n_; ++i) ::kill(node(i).pid(), SIGKILL);
    const auto t_kill = Clock::now();
    for (int i = 0; i < n_; ++i) node(i).stop(SIGKILL);
    std::size_t acked = 0;
    for (auto* p : ps) {
        p->detach();
        acked += p->acks_count();
    }
    reader.stop();
    for (auto& c : ctl_) c = {};
    std::printf("[setup] %s kill-all: killed the three servers %lld ms into publishing, %zu acks so far\n", kind(),
                (long long)before.count(), acked);
    const auto t_restart = Clock::now();
    for (int i = 0; i < n_; ++i) start(i);
    ASSERT_TRUE(wait_meta_leader(bound(25s))) << "no meta leader after the restart\n" << logs();
    const double t_meta = since(t_restart);
    const int l = stream_leader(bound(20s));
    ASSERT_GE(l, 0) << "the stream has no leader after the restart\n" << logs();
    const double t_lead = since(t_restart);
    const auto t_resume = Clock::now();
    for (auto* p : ps) {
        p->attach(connect_in(p->node()));
        ASSERT_TRUE(p->ready());
        p->start();
    }
    reader.attach(connect_in(reader.node()));
    ASSERT_TRUE(reader.ready()) << "the reader could not subscribe after the restart\n" << logs();
    reader.start();
    double first = 0;
    for (auto* p : ps) {
        const double f = wait_ack_after(*p, t_resume, 20s);
        first = f < 0 || first < 0 ? -1 : std::max(first, f);
    }
    std::this_thread::sleep_for(seeded_ms(500, 1500));
    stop_publishers();
    std::printf("[timing] %s kill-all: restarted %.2f s after the kill; meta leader %.2f s and stream leader s%d %.2f s "
                "after the restart; every publisher acked again within %.3f s of resuming\n",
                kind(), secs(t_restart - t_kill), t_meta, l, t_lead, first);
    EXPECT_GE(first, 0) << "a publisher got no ack within 20 s of the restart, seed " << seed_ << "\n" << logs();
    verify_readers("kill-all");
    verify("kill-all");
}

// (c) The stream leader's link flaps (cut, healed, cut, ...) for ~5 s under three publishers.
//
// Skipped for nats-server 2.9.10, which fails it in about one run of four: the flapping leader's
// copy ends with another message at an acknowledged sequence. Seen with
// OSPREY_SEED=15898444239419835931 (leader s1, period 1408 ms): all three /jsz said 1178
// messages, but read as the stream leader s1 held p1-388 (never acknowledged) at seq 923 where s0
// and s2 held p0-281, acknowledged as seq 923; p0-281 is nowhere in s1's copy.
// OSPREY_NETNS_JS_NATS_ALL=1 runs it anyway.
TEST_P(NetnsJsFault, FlappingLeaderLink) {
    if (is_nats_server(GetParam()) && !std::getenv("OSPREY_NETNS_JS_NATS_ALL"))
        GTEST_SKIP() << "nats-server 2.9.10 diverges on the flapping leader's replica here "
                        "(see the comment; OSPREY_NETNS_JS_NATS_ALL=1 runs it)";
    std::vector<Publisher*> ps;
    for (int i = 0; i < n_; ++i) ps.push_back(&add_publisher("p" + std::to_string(i), i));
    // The reader on the flapping leader's server, or (seeded) on another.
    Reader& reader = add_reader(seeded(0, 1) ? leader0_ : (leader0_ + 1) % n_);
    for (auto* p : ps) p->start();
    reader.start();
    const auto period = seeded_ms(400, 2000), flap_for = seeded_ms(4500, 5500);
    std::printf("[setup] %s flap: leader s%d flaps with period %lld ms for %lld ms\n", kind(), leader0_,
                (long long)period.count(), (long long)flap_for.count());
    std::this_thread::sleep_for(seeded_ms(500, 1500));
    std::size_t before = 0;
    for (auto* p : ps) before += p->acks_count();
    const auto t_flap = Clock::now();
    lab_->start_flap(leader0_, period);
    std::this_thread::sleep_for(flap_for);
    lab_->stop_flap();
    const auto t_end = Clock::now();
    std::size_t during = 0;
    for (auto* p : ps) during += p->acks_count();
    during -= before;
    double first = 0;
    for (auto* p : ps) {
        const double f = wait_ack_after(*p, t_end, 20s);
        first = f < 0 || first < 0 ? -1 : std::max(first, f);
    }
    std::this_thread::sleep_for(500ms);
    stop_publishers();
    // The longest time without any ack during the flapping.
    std::vector<Clock::time_point> ts;
    for (auto* p : ps)
        for (auto& a : p->acks()) ts.push_back(a.acked);
    std::sort(ts.begin(), ts.end());
    double gap = 0;
    Clock::time_point prev = t_flap;
    for (auto t : ts) {
        if (t < t_flap) continue;
        if (t > t_end) break;
        gap = std::max(gap, secs(t - prev));
        prev = t;
    }
    gap = std::max(gap, secs(t_end - prev));
    const int l = stream_leader(5s);
    std::printf("[timing] %s flap: %zu acks before, %zu during %.2f s of flapping (longest gap %.2f s); every publisher "
                "acked again within %.3f s after; stream leader s%d -> s%d\n",
                kind(), before, during, secs(t_end - t_flap), gap, first, leader0_, l);
    EXPECT_GE(first, 0) << "a publisher got no ack within 20 s of the end of the flapping, seed " << seed_ << "\n" << logs();
    verify_readers("flap");
    verify("flap");
}

// (d) The stream leader's process paused (SIGSTOP, seeded 3-6 s) under publishers on the two
// other servers and on the paused one, and a reader: the other two elect a new leader and go
// on acknowledging; the paused server, continued, still believes it leads for a moment and
// must neither acknowledge on its own nor disturb the new leader; it catches up, and its
// publisher is acknowledged again.
//
// Skipped for nats-server 2.9.10, which fails it: the paused leader, continued, keeps a copy that
// differs from the others'. Seen with OSPREY_SEED=14335270307094040872 (leader s0 paused 5 s):
// /jsz never agreed (s0 1270 messages, s1 and s2 1278), and read as the stream leader s0's copy
// lacked 11 acknowledged messages, had 8 holes and held 568 at another sequence than acknowledged.
// OSPREY_NETNS_JS_NATS_ALL=1 runs it anyway.
TEST_P(NetnsJsFault, PausedLeaderIsReplacedAndCatchesUp) {
    if (is_nats_server(GetParam()) && !std::getenv("OSPREY_NETNS_JS_NATS_ALL"))
        GTEST_SKIP() << "nats-server 2.9.10 diverges on the paused leader's replica here "
                        "(see the comment; OSPREY_NETNS_JS_NATS_ALL=1 runs it)";
    const int l = leader0_;
    Publisher& pa = add_publisher("pa", (l + 1) % n_);
    Publisher& pb = add_publisher("pb", (l + 2) % n_);
    Publisher& pl = add_publisher("pl", l);
    Reader& reader = add_reader((l + 1 + int(seeded(0, 1))) % n_);
    const auto before = seeded_ms(800, 2000), hold = seeded_ms(3000, 6000);
    std::printf("[setup] %s pause: stream leader s%d paused after %lld ms for %lld ms\n", kind(), l,
                (long long)before.count(), (long long)hold.count());
    for (auto* p : {&pa, &pb, &pl}) p->start();
    reader.start();
    std::this_thread::sleep_for(before);
    ::kill(node(l).pid(), SIGSTOP);
    const auto t_stop = Clock::now();
    const double first_a = wait_ack_after(pa, t_stop, bound(20s));
    if (since(t_stop) < secs(hold))
        std::this_thread::sleep_for(hold - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_stop));
    int new_leader = -1;  // as one of the running servers sees it (the paused one answers nothing)
    if (auto in = stream_info((l + 1) % n_)) new_leader = in->leader;
    ::kill(node(l).pid(), SIGCONT);
    const auto t_cont = Clock::now();
    const double first_l = wait_ack_after(pl, t_cont, bound(20s));
    std::this_thread::sleep_for(500ms);
    stop_publishers();
    std::printf("[timing] %s pause: paused %.2f s; the others' first ack %.3f s after the pause; leader during the "
                "pause s%d; the paused server's publisher acked again %.3f s after it continued\n",
                kind(), secs(t_cont - t_stop), first_a, new_leader, first_l);
    EXPECT_GE(first_a, 0) << "the other two acknowledged nothing sent after the pause, seed " << seed_ << "\n" << logs();
    EXPECT_GE(first_l, 0) << "the continued server's publisher got no ack, seed " << seed_ << "\n" << logs();
    verify_readers("pause");
    verify("pause");
}

// (e) The stream's replicas move under load: scaled down to one (the leader stays, the other two
// delete their copies) and up to three again (they fill again from the kept one), and during the
// scale-up a seeded server is cut away for 3-5 s: one of the returning replicas, or the kept
// leader (then the group it leads has two voters or three, and no majority on either side
// until the heal, or a majority without it). Nothing acknowledged may be lost; after the heal
// every publisher acknowledges again and the three copies agree.
//
// Skipped for nats-server 2.9.10, which fails it: with OSPREY_SEED=18326720762160729072 (down to
// one replica on s2 in 0.12 s, up to three, s2 - the kept leader - cut away 491 ms later for
// 3.5 s) all three /jsz said 1291 messages, but read as the stream leader s2's copy lacked p1-189
// (acknowledged as seq 498) and held a message never acknowledged in its place; s0 and s1 had
// p1-189 at 498. (A run that cut a returning replica passed.) OSPREY_NETNS_JS_NATS_ALL=1 runs it.
TEST_P(NetnsJsFault, ReplicasMoveWhilePublishingAndAServerIsCutAway) {
    if (is_nats_server(GetParam()) && !std::getenv("OSPREY_NETNS_JS_NATS_ALL"))
        GTEST_SKIP() << "nats-server 2.9.10 diverges on the kept leader's replica here "
                        "(see the comment; OSPREY_NETNS_JS_NATS_ALL=1 runs it)";
    std::vector<Publisher*> ps;
    for (int i = 0; i < n_; ++i) ps.push_back(&add_publisher("p" + std::to_string(i), i));
    Reader& reader = add_reader(int(seeded(0, n_ - 1)));
    const auto before = seeded_ms(500, 1500), settle = seeded_ms(0, 800), hold = seeded_ms(3000, 5000);
    const bool cut_leader = seeded(0, 1) == 1;
    for (auto* p : ps) p->start();
    reader.start();
    std::this_thread::sleep_for(before);
    const auto t_down = Clock::now();
    ASSERT_TRUE(put_stream(1, true, bound(20s))) << logs();
    // Bounded: one server holds the stream, the other two deleted their copies.
    int kept = -1;
    for (const auto end = Clock::now() + bound(20s); Clock::now() < end && kept < 0; std::this_thread::sleep_for(100ms)) {
        int empty = 0, holder = -1;
        for (int i = 0; i < n_; ++i) {
            if (local(i).msgs == 0) ++empty;
            else holder = i;
        }
        if (empty == n_ - 1) kept = holder;
    }
    ASSERT_GE(kept, 0) << "the stream did not come down to one replica:" << locals() << "\n" << logs();
    const double down_s = since(t_down);
    ASSERT_TRUE(put_stream(n_, true, bound(20s))) << logs();
    std::this_thread::sleep_for(settle);
    const int away = cut_leader ? kept : (kept + 1 + int(seeded(0, 1))) % n_;
    lab_->partition({{away}, {(away + 1) % n_, (away + 2) % n_}});
    const auto t_cut = Clock::now();
    std::this_thread::sleep_for(hold);
    lab_->heal();
    const auto t_heal = Clock::now();
    double first = 0;
    for (auto* p : ps) {
        const double f = wait_ack_after(*p, t_heal, bound(20s));
        first = f < 0 || first < 0 ? -1 : std::max(first, f);
    }
    std::this_thread::sleep_for(500ms);
    stop_publishers();
    std::printf("[timing] %s replicas-move: down to one replica on s%d in %.2f s; up to three, and s%d (%s) cut away "
                "%lld ms later for %.2f s; every publisher acked again within %.3f s of the heal\n",
                kind(), kept, down_s, away, cut_leader ? "the kept leader" : "a returning replica",
                (long long)settle.count(), secs(t_heal - t_cut), first);
    EXPECT_GE(first, 0) << "a publisher got no ack within 20 s of the heal, seed " << seed_ << "\n" << logs();
    verify_readers("replicas-move");
    verify("replicas-move");
}

// (f) Five servers, an R5 stream: the stream leader and a seeded follower cut away together; the
// other three elect a new leader and go on; the two acknowledge nothing new until the heal.
// Skipped for nats-server 2.9.10 as (a) with the leader cut (OSPREY_NETNS_JS_NATS_ALL=1 runs it).
TEST_P(NetnsJsFault5, TheLeaderAndAFollowerCutAway) {
    if (is_nats_server(GetParam()) && !std::getenv("OSPREY_NETNS_JS_NATS_ALL"))
        GTEST_SKIP() << "nats-server 2.9.10 loses an acknowledged message on a cut-off leader's replica "
                        "(see MinorityPartitionOfTheLeader; OSPREY_NETNS_JS_NATS_ALL=1 runs it)";
    const int f = (leader0_ + 1 + int(seeded(0, n_ - 2))) % n_;
    minority_partition({leader0_, f}, "five-partition-leader");
}

// (g) Five servers, an R5 stream: kill -9 of the stream leader and a seeded follower under three
// publishers on the others; the three go on (a majority of five); the two restart and catch up.
TEST_P(NetnsJsFault5, TheLeaderAndAFollowerKilled) {
    const int l = leader0_, f = (leader0_ + 1 + int(seeded(0, n_ - 2))) % n_;
    std::vector<int> alive;
    for (int i = 0; i < n_; ++i)
        if (i != l && i != f) alive.push_back(i);
    std::vector<Publisher*> ps;
    for (int i : alive) ps.push_back(&add_publisher("p" + std::to_string(i), i));
    Reader& reader = add_reader(alive[std::size_t(seeded(0, alive.size() - 1))]);
    const auto before = seeded_ms(800, 2000), down = seeded_ms(2000, 4000);
    for (auto* p : ps) p->start();
    reader.start();
    std::this_thread::sleep_for(before);
    node(l).stop(SIGKILL);
    node(f).stop(SIGKILL);
    ctl_[std::size_t(l)] = {};
    ctl_[std::size_t(f)] = {};
    const auto t_kill = Clock::now();
    double first = 0;
    for (auto* p : ps) {
        const double x = wait_ack_after(*p, t_kill, bound(20s));
        first = x < 0 || first < 0 ? -1 : std::max(first, x);
    }
    if (since(t_kill) < secs(down))
        std::this_thread::sleep_for(down - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_kill));
    start(l);
    start(f);
    std::this_thread::sleep_for(seeded_ms(1000, 2000));
    stop_publishers();
    std::printf("[timing] %s five-kill: s%d (leader) and s%d killed %lld ms into publishing for %.2f s; every "
                "publisher on the other three acked again within %.3f s of the kill\n",
                kind(), l, f, (long long)before.count(), secs(down), first);
    EXPECT_GE(first, 0) << "the other three acknowledged nothing within 20 s of the kill, seed " << seed_ << "\n" << logs();
    verify_readers("five-kill");
    verify("five-kill");
}

std::vector<std::string> server_kinds() {
    std::vector<std::string> k{OSPREY_BIN};
    if (std::filesystem::exists(NATS_SERVER_BIN)) k.push_back(NATS_SERVER_BIN);
    return k;
}

INSTANTIATE_TEST_SUITE_P(Servers, NetnsJsFault, ::testing::ValuesIn(server_kinds()),
                         [](const auto& info) { return std::string(is_nats_server(info.param) ? "nats" : "osprey"); });
INSTANTIATE_TEST_SUITE_P(Servers, NetnsJsFault5, ::testing::ValuesIn(server_kinds()),
                         [](const auto& info) { return std::string(is_nats_server(info.param) ? "nats" : "osprey"); });

}  // namespace
