#include "subjects/transform.h"

#include <cctype>

#include "subjects/subject.h"

namespace osprey::subjects {

namespace {

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    Tokens t(s);
    std::string_view x;
    while (t.next(x)) out.emplace_back(x);
    return out;
}

// The wildcard index a destination token refers to (1-based), 0 for a literal token, -1 for
// one nats-server would refuse.
int placeholder(std::string_view tok) {
    if (tok.size() > 1 && tok[0] == '$') {
        int n = 0;
        for (char c : tok.substr(1)) {
            if (!std::isdigit(static_cast<unsigned char>(c))) return 0;
            n = n * 10 + (c - '0');
        }
        return n;
    }
    if (!tok.starts_with("{{") || !tok.ends_with("}}")) return 0;
    std::string_view fn = tok.substr(2, tok.size() - 4);
    while (!fn.empty() && fn.front() == ' ') fn.remove_prefix(1);
    while (!fn.empty() && fn.back() == ' ') fn.remove_suffix(1);
    std::string lower;
    for (char c : fn) lower += char(std::tolower(static_cast<unsigned char>(c)));
    if (!lower.starts_with("wildcard(") || !lower.ends_with(")")) return -1;
    std::string_view arg = std::string_view(lower).substr(9, lower.size() - 10);
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
    while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
    if (arg.empty()) return -1;
    int n = 0;
    for (char c : arg) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

}  // namespace

std::optional<Transform> Transform::compile(std::string_view src, std::string_view dest) {
    if (!valid_subject(src) || !valid_subject(dest)) return std::nullopt;
    Transform t;
    t.src_ = split(src);
    const auto dtoks = split(dest);
    int src_pwc = 0;
    bool src_fwc = false, dest_fwc = false;
    for (const auto& s : t.src_) {
        if (s == "*") ++src_pwc;
        if (s == ">") src_fwc = true;
    }
    for (const auto& d : dtoks) {
        if (d == "*") return std::nullopt;
        if (d == ">") dest_fwc = true;
    }
    if (src_fwc != dest_fwc) return std::nullopt;
    int placeholders = 0;
    for (const auto& d : dtoks) {
        Part p;
        if (d == ">") {
            p.index = -2;
        } else if (const int n = (src_pwc > 0 || src_fwc) ? placeholder(d) : 0; n != 0) {
            if (n < 0 || n > src_pwc) return std::nullopt;
            p.index = n - 1;
            ++placeholders;
        } else {
            p.literal = d;
        }
        t.dest_.push_back(std::move(p));
    }
    if (placeholders < src_pwc) return std::nullopt;  // every source wildcard is used
    return t;
}

std::string Transform::apply(std::string_view subject) const {
    const auto toks = split(subject);
    std::vector<std::string_view> wild;
    std::string tail;
    for (std::size_t i = 0; i < src_.size() && i < toks.size(); ++i) {
        if (src_[i] == "*") wild.push_back(toks[i]);
        if (src_[i] == ">") {
            for (std::size_t j = i; j < toks.size(); ++j) tail += (j > i ? "." : "") + toks[j];
            break;
        }
    }
    std::string out;
    for (const auto& p : dest_) {
        if (!out.empty()) out += '.';
        if (p.index == -2) out += tail;
        else if (p.index >= 0 && std::size_t(p.index) < wild.size()) out += wild[std::size_t(p.index)];
        else out += p.literal;
    }
    return out;
}

}  // namespace osprey::subjects
