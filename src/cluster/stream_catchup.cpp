#include "cluster/stream_catchup.h"
#include "cluster/route_intake.h"

#include <fmt/format.h>

#include "jetstream/stream/entry_codec.h"
#include "jetstream/stream/stream.h"
#include "server/account.h"
#include "server/client.h"
#include "server/message.h"
#include "server/server.h"
#include "util/log.h"

namespace osprey::cluster {

using namespace jetstream::entry;
using namespace std::chrono;

namespace {

constexpr std::size_t kBatchBytes = 256 * 1024;  // one answer: a fraction of a route's buffer
constexpr auto kAnswerWait = seconds(2);

std::string requests_subject(raft::NodeId id) { return fmt::format("$OSP.CATCHUP.{:016x}", id); }
std::string answers_subject(raft::NodeId id) { return fmt::format("$OSP.CATCHUP.R.{:016x}", id); }

}  // namespace


StreamCatchup::StreamCatchup(server::Server& srv, raft::NodeId self, Finder finder)
    : srv_(srv), sys_(srv.system_account()), self_(self), finder_(std::move(finder)) {}

StreamCatchup::~StreamCatchup() { stop(); }

void StreamCatchup::start() {
    if (!sys_ || requests_) return;
    requests_ = std::make_shared<RouteIntake>();
    requests_->subject = requests_subject(self_);
    requests_->fn = [this](const server::Message& m) { serve(std::string(m.reply), m.payload); };
    answers_ = std::make_shared<RouteIntake>();
    answers_->subject = answers_subject(self_);
    answers_->fn = [this](const server::Message& m) { answer(m.payload); };
    sys_->sublist().insert(requests_);
    sys_->sublist().insert(answers_);
    worker_ = std::thread([this] { run(); });
}

void StreamCatchup::stop() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (requests_) sys_->sublist().remove(requests_);
    if (answers_) sys_->sublist().remove(answers_);
    requests_.reset();
    answers_.reset();
}

void StreamCatchup::fetch(Job job) {
    {
        std::lock_guard lk(mu_);
        jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
}

// A peer's request: varint id, bytes group, varint from, varint to. The answer: varint id,
// then the stream's batch (or nothing after the id: no replica of that group here). `from`
// 0 asks for the durable consumers instead: the answer is then 0x01 and their entries.
void StreamCatchup::serve(const std::string& reply, std::string_view body) {
    Reader rd{body};
    std::uint64_t id = 0, from = 0, to = 0;
    std::string_view group;
    if (reply.empty() || !rd.varint(id) || !rd.bytes(group) || !rd.varint(from) || !rd.varint(to)) return;
    if (const std::string_view prefix = "$OSP.CATCHUP.R."; reply.rfind(prefix, 0) == 0) {
        const raft::NodeId peer = std::strtoull(reply.c_str() + prefix.size(), nullptr, 16);
        std::lock_guard lk(mu_);
        served_[{std::string(group), peer}] = steady_clock::now();
    }
    std::string out;
    put_varint(out, id);
    if (auto s = finder_(std::string(group))) {
        if (from == 0) out += '\x01' + s->consumers_catchup();
        else out += s->catchup_batch(from, to, kBatchBytes);
    }
    server::Message m{reply, {}, {}, out, nullptr};
    sys_->route(m);
    server::Client::flush_scheduled();
}

void StreamCatchup::answer(std::string_view body) {
    Reader rd{body};
    std::uint64_t id = 0;
    if (!rd.varint(id)) return;
    {
        std::lock_guard lk(mu_);
        if (id != waiting_for_ || answered_) return;  // late: a request given up on
        answer_.assign(rd.in);
        answered_ = true;
    }
    cv_.notify_all();
}

void StreamCatchup::run() {
    std::unique_lock lk(mu_);
    while (!stop_) {
        if (jobs_.empty()) {
            cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
            continue;
        }
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        lk.unlock();
        std::string consumers;
        const bool finished = run_job(job, consumers);
        if (finished && job.done) job.done(std::move(consumers));
        lk.lock();
    }
}

bool StreamCatchup::serving(const std::string& group, raft::NodeId peer) {
    std::lock_guard lk(mu_);
    auto it = served_.find({group, peer});
    return it != served_.end() && steady_clock::now() - it->second < seconds(3);
}

std::optional<std::string> StreamCatchup::ask(raft::NodeId to, const std::string& group, std::uint64_t from,
                                              std::uint64_t upto) {
    std::uint64_t id;
    {
        std::lock_guard lk(mu_);
        if (stop_) return std::nullopt;
        id = next_id_++;
        waiting_for_ = id;
        answered_ = false;
        answer_.clear();
    }
    std::string req;
    put_varint(req, id);
    put_bytes(req, group);
    put_varint(req, from);
    put_varint(req, upto);
    // (A Message holds views: the subjects must outlive it.)
    const std::string subject = requests_subject(to), reply = answers_subject(self_);
    server::Message m{subject, reply, {}, req, nullptr};
    sys_->route(m);
    server::Client::flush_scheduled();
    std::string got;
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, kAnswerWait, [&] { return stop_ || answered_; });
    if (stop_) return std::nullopt;
    if (answered_) got = std::move(answer_);
    waiting_for_ = 0;
    return got;
}

std::string StreamCatchup::fetch_consumers(Job& job) {
    // From the first peer that holds the stream; a memory stream gives up when none does
    // (nor any consumer state) after asking each twice.
    std::size_t attempt = 0, none = 0;
    for (;;) {
        if (job.stream.expired()) return {};
        const auto sources = job.sources ? job.sources() : std::vector<raft::NodeId>{};
        if (!sources.empty()) {
            auto got = ask(sources[attempt++ % sources.size()], job.group, 0, 0);
            if (!got) return {};
            if (!got->empty() && got->front() == '\x01') return got->substr(1);
            if (job.memory && ++none >= 2 * sources.size()) return {};
        }
        std::this_thread::sleep_for(milliseconds(200));
    }
}

bool StreamCatchup::run_job(Job& job, std::string& consumers) {
    const auto t0 = steady_clock::now();
    auto last_note = t0;
    std::uint64_t next = job.from;
    std::size_t attempt = 0, empty_answers = 0;
    if (job.from <= job.to)
        log::notice("JetStream cluster: stream group {} catching up sequences {}..{} from its peers", job.group,
                    job.from, job.to);
    while (next <= job.to) {
        {
            std::lock_guard lk(mu_);
            if (stop_) return false;
        }
        auto s = job.stream.lock();
        if (!s) return false;  // the replica went away
        const auto sources = job.sources ? job.sources() : std::vector<raft::NodeId>{};
        if (sources.empty()) {
            std::this_thread::sleep_for(milliseconds(200));
            continue;
        }
        auto answer = ask(sources[attempt % sources.size()], job.group, next, job.to);
        if (!answer) return false;
        const std::string got = std::move(*answer);
        std::uint64_t after = next;
        if (!got.empty() && !s->apply_catchup_batch(got, after))
            log::error("JetStream cluster: stream group {}: a damaged catch-up answer was refused", job.group);
        const std::uint64_t have = s->store().state().last_seq;
        if (after > next) {
            next = std::max(after, have + 1);
            empty_answers = 0;
        } else {
            if (!got.empty()) ++empty_answers;  // answered: it has nothing from `next` on
            if (job.memory && empty_answers >= 2 * sources.size()) {
                log::warn("JetStream cluster: stream group {} (memory storage): no replica holds sequences {}..{} any "
                          "more; they are lost",
                          job.group, next, job.to);
                break;
            }
            ++attempt;  // no progress there: another peer, after a moment
            std::this_thread::sleep_for(milliseconds(200));
        }
        if (steady_clock::now() - last_note > seconds(10)) {
            last_note = steady_clock::now();
            log::warn("JetStream cluster: stream group {} still catching up at sequence {} of {}", job.group, next,
                      job.to);
        }
    }
    consumers = fetch_consumers(job);
    {
        std::lock_guard lk(mu_);
        if (stop_) return false;
    }
    log::notice("JetStream cluster: stream group {} caught up to sequence {} in {:.2f} s", job.group, job.to,
                duration<double>(steady_clock::now() - t0).count());
    return true;
}

}  // namespace osprey::cluster
