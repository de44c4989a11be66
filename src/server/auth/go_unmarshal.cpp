// A port of the decisions of Go 1.19's encoding/json decoder (decode.go, fold.go) that claims
// decoding depends on; see go_unmarshal.h.
#include "server/auth/go_unmarshal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>

#include "util/go_json.h"

namespace osprey::server::auth::gojson {

namespace {

// ---- parsing (the text is known to be valid JSON: Go's syntax check ran first) ----

// Length of a valid UTF-8 sequence at s[i] as Go's utf8.DecodeRune accepts it, else 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
    auto at = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
    const unsigned c = at(i);
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return at(k) >= lo && at(k) <= hi;
    };
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (c == 0xE0) return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        return cont(i + 1) && cont(i + 2) ? 3 : 0;
    if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
    if (c == 0xF0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    return 0;
}

void put_utf8(std::string& out, unsigned r) {
    if (r < 0x80) {
        out += char(r);
    } else if (r < 0x800) {
        out += char(0xC0 | (r >> 6));
        out += char(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        out += char(0xE0 | (r >> 12));
        out += char(0x80 | ((r >> 6) & 0x3F));
        out += char(0x80 | (r & 0x3F));
    } else {
        out += char(0xF0 | (r >> 18));
        out += char(0x80 | ((r >> 12) & 0x3F));
        out += char(0x80 | ((r >> 6) & 0x3F));
        out += char(0x80 | (r & 0x3F));
    }
}

constexpr unsigned kReplacement = 0xFFFD;

// Deeper levels of interface{} values are cut off (kept as null): nothing reads them, and
// the decoders of typed fields fail or succeed at shallower levels, so no result changes,
// while the recursion stays bounded.
constexpr int kInterfaceDepth = 64;

class Parser {
  public:
    explicit Parser(std::string_view s) : s_(s) {}

    // Iterative, with the open containers on an explicit stack: nesting may be 10000 deep.
    // (A pointer to an open container stays valid: only the innermost one grows.)
    void parse(Node& root) {
        std::vector<Node*> open;
        Node* target = &root;
        for (;;) {
            space();
            const char c = s_[i_];
            if (c == '{' || c == '[') {
                target->kind = c == '{' ? Node::Object : Node::Array;
                ++i_;
                space();
                if (s_[i_] != (c == '{' ? '}' : ']')) {
                    open.push_back(target);
                    target = next_slot(*target);
                    continue;
                }
                ++i_;  // an empty container is complete
            } else {
                scalar(*target);
            }
            // A value is complete: a comma opens the next slot, brackets close containers.
            for (;;) {
                if (open.empty()) return;
                space();
                if (s_[i_++] == ',') {
                    target = next_slot(*open.back());
                    break;
                }
                open.pop_back();
            }
        }
    }

  private:
    std::string_view s_;
    std::size_t i_ = 0;

    // The place for the next element of an open container (for objects, after its key).
    Node* next_slot(Node& container) {
        if (container.kind == Node::Array) {
            container.items.emplace_back();
            return &container.items.back();
        }
        space();
        container.members.emplace_back();
        auto& m = container.members.back();
        std::string raw;
        m.first = string(raw);
        space();
        ++i_;  // ':'
        return &m.second;
    }

    void scalar(Node& n) {
        const char c = s_[i_];
        if (c == '"') {
            n.kind = Node::String;
            n.text = string(n.raw);
            return;
        }
        if (c == 't' || c == 'f') {
            n.kind = Node::Bool;
            n.boolean = c == 't';
            i_ += n.boolean ? 4 : 5;
            return;
        }
        if (c == 'n') {
            i_ += 4;
            return;
        }
        n.kind = Node::Number;
        const std::size_t start = i_;
        while (i_ < s_.size() &&
               (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                s_[i_] == '+' || s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
            ++i_;
        n.text = std::string(s_.substr(start, i_ - start));
    }

    void space() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }

    int hex4(std::size_t at) const {
        if (at + 4 > s_.size()) return -1;
        int v = 0;
        for (std::size_t k = at; k < at + 4; ++k) {
            const char c = s_[k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                v |= c - 'A' + 10;
            else
                return -1;
        }
        return v;
    }

    // Go's unquote: escapes, surrogate pairs, U+FFFD for what is not valid.
    std::string string(std::string& raw) {
        const std::size_t start = i_;
        ++i_;  // opening quote
        std::string out;
        for (;;) {
            const unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                ++i_;
                break;
            }
            if (c == '\\') {
                const char e = s_[i_ + 1];
                i_ += 2;
                switch (e) {
                    case 'b':
                        out += '\b';
                        break;
                    case 'f':
                        out += '\f';
                        break;
                    case 'n':
                        out += '\n';
                        break;
                    case 'r':
                        out += '\r';
                        break;
                    case 't':
                        out += '\t';
                        break;
                    case 'u': {
                        unsigned r = unsigned(hex4(i_));
                        i_ += 4;
                        if (r >= 0xD800 && r < 0xE000) {
                            // A high surrogate followed by a low one makes one rune; anything
                            // else is U+FFFD and the next escape is read on its own.
                            unsigned out_r = kReplacement;
                            if (r < 0xDC00 && i_ + 6 <= s_.size() && s_[i_] == '\\' &&
                                s_[i_ + 1] == 'u') {
                                const int r2 = hex4(i_ + 2);
                                if (r2 >= 0xDC00 && r2 < 0xE000) {
                                    out_r =
                                        0x10000 + ((r - 0xD800) << 10) + (unsigned(r2) - 0xDC00);
                                    i_ += 6;
                                }
                            }
                            r = out_r;
                        }
                        put_utf8(out, r);
                        break;
                    }
                    default:
                        out += e;
                        break;  // " \ /
                }
                continue;
            }
            if (c < 0x80) {
                out += char(c);
                ++i_;
                continue;
            }
            const std::size_t len = utf8_len(s_, i_);
            if (len == 0) {
                put_utf8(out, kReplacement);
                ++i_;
            } else {
                out.append(s_.substr(i_, len));
                i_ += len;
            }
        }
        raw = std::string(s_.substr(start, i_ - start));
        return out;
    }
};

// ---- Go's float64 text (encoding/json's floatEncoder) ----

std::string go_float(double f) {
    const double a = std::fabs(f);
    const bool exp = a != 0 && (a < 1e-6 || a >= 1e21);
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, f,
                           exp ? std::chars_format::scientific : std::chars_format::fixed);
    std::string s(buf, r.ptr);
    const std::size_t n = s.size();
    if (exp && n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    return s;
}

// ---- decoding ----

struct Ctx {
    bool has_struct = false;
    std::string struct_name;
    std::vector<std::string> stack;
    std::optional<std::string> saved;
    std::optional<std::string> fatal;
};


void type_error(Ctx& ctx, const std::string& value, const std::string& go_type) {
    if (ctx.saved) return;  // Go keeps the first
    if (ctx.has_struct || !ctx.stack.empty()) {
        std::string field;
        for (std::size_t i = 0; i < ctx.stack.size(); ++i) field += (i ? "." : "") + ctx.stack[i];
        ctx.saved = fmt::format("json: cannot unmarshal {} into Go struct field {}.{} of type {}",
                                value, ctx.struct_name, field, go_type);
    } else {
        ctx.saved =
            fmt::format("json: cannot unmarshal {} into Go value of type {}", value, go_type);
    }
}

// fold.go's equalFoldRight: ASCII case folding, plus the Kelvin sign for k and long s for s.
bool fold_equal(std::string_view name, std::string_view key) {
    std::size_t t = 0;
    for (char sbc : name) {
        const unsigned char sb = static_cast<unsigned char>(sbc);
        if (t >= key.size()) return false;
        const unsigned char tb = static_cast<unsigned char>(key[t]);
        if (tb < 0x80) {
            if (sb != tb) {
                const unsigned char up = sb & 0xDF;
                if (!(up >= 'A' && up <= 'Z') || up != (tb & 0xDF)) return false;
            }
            ++t;
            continue;
        }
        const std::string_view rest = key.substr(t);
        if ((sb == 's' || sb == 'S') && rest.starts_with("\xC5\xBF")) {
            t += 2;
        } else if ((sb == 'k' || sb == 'K') && rest.starts_with("\xE2\x84\xAA")) {
            t += 3;
        } else {
            return false;
        }
    }
    return t == key.size();
}

const Field* find_field(const Type& t, std::string_view key) {
    for (const auto& f : t.fields)
        if (f.name == key) return &f;
    for (const auto& f : t.fields)
        if (fold_equal(f.name, key)) return &f;
    return nullptr;
}

boost::json::value zero(const Type& t) {
    switch (t.kind) {
        case Type::String:
            return boost::json::string();
        case Type::Int:
            return std::int64_t(0);
        case Type::Uint:
            return std::uint64_t(0);
        case Type::Bool:
            return false;
        case Type::Struct:
            return boost::json::object();
        default:
            return nullptr;
    }
}

boost::json::value interface_value(const Node& n, int depth = 0) {
    if (depth > kInterfaceDepth) return nullptr;
    switch (n.kind) {
        case Node::Bool:
            return n.boolean;
        case Node::Number:
            return std::strtod(n.text.c_str(), nullptr);
        case Node::String:
            return boost::json::string(n.text);
        case Node::Array: {
            boost::json::array a;
            for (const auto& i : n.items) a.push_back(interface_value(i, depth + 1));
            return a;
        }
        case Node::Object: {
            boost::json::object o;
            for (const auto& [k, v] : n.members) o[k] = interface_value(v, depth + 1);  // last wins
            return o;
        }
        default:
            return nullptr;
    }
}

// The first number literal beyond float64 in `n`, in document order (Go's interface{}
// decoding refuses it). Iterative: `n` may be deep.
std::optional<std::string> huge_number(const Node& n) {
    std::vector<const Node*> todo{&n};
    while (!todo.empty()) {
        const Node* x = todo.back();
        todo.pop_back();
        if (x->kind == Node::Number && std::isinf(std::strtod(x->text.c_str(), nullptr)))
            return x->text;
        for (auto it = x->items.rbegin(); it != x->items.rend(); ++it) todo.push_back(&*it);
        for (auto it = x->members.rbegin(); it != x->members.rend(); ++it)
            todo.push_back(&it->second);
    }
    return std::nullopt;
}

void decode(const Node& n, const Type& t, boost::json::value& target, Ctx& ctx);

void decode_struct(const Node& n, const Type& t, boost::json::value& target, Ctx& ctx) {
    if (!target.is_object()) target = boost::json::object();
    const bool had = ctx.has_struct;
    const std::string outer = ctx.struct_name;
    for (const auto& [key, value] : n.members) {
        const Field* f = find_field(t, key);
        if (!f) continue;
        ctx.has_struct = true;
        ctx.struct_name = t.struct_name;
        ctx.stack.push_back(f->name);
        auto& obj = target.as_object();
        boost::json::value v = obj.contains(f->name) ? obj.at(f->name) : zero(*f->type);
        decode(value, *f->type, v, ctx);
        if (v.is_null()) {
            obj.erase(f->name);
        } else if (f->type->kind == Type::Struct && value.kind != Node::Object &&
                   !obj.contains(f->name)) {
            // A struct the JSON did not give an object for stays absent (Go: its zero value).
        } else {
            obj[f->name] = std::move(v);
        }
        ctx.stack.pop_back();
        ctx.has_struct = had;
        ctx.struct_name = outer;
        if (ctx.fatal) return;
    }
}

void decode(const Node& n, const Type& t, boost::json::value& target, Ctx& ctx) {
    if (t.kind == Type::Custom) {
        if (auto err = t.custom(n, target)) ctx.fatal = std::move(err);
        return;
    }
    if (n.kind == Node::Null) {
        if (t.kind == Type::Pointer || t.kind == Type::Map || t.kind == Type::Slice ||
            t.kind == Type::Interface)
            target = nullptr;
        return;
    }
    switch (t.kind) {
        case Type::Interface:
            if (auto big = huge_number(n))
                type_error(ctx, "number " + *big, "float64");
            else
                target = interface_value(n);
            return;
        case Type::Pointer: {
            if (target.is_null()) target = zero(*t.elem);
            decode(n, *t.elem, target, ctx);
            return;
        }
        case Type::String:
            if (n.kind == Node::String)
                target = boost::json::string(n.text);
            else
                type_error(ctx, value_name(n), t.go_name);
            return;
        case Type::Bool:
            if (n.kind == Node::Bool)
                target = n.boolean;
            else
                type_error(ctx, value_name(n), t.go_name);
            return;
        case Type::Int:
        case Type::Uint: {
            if (n.kind != Node::Number) {
                type_error(ctx, value_name(n), t.go_name);
                return;
            }
            // strconv.ParseInt/ParseUint of the literal, then the field's range.
            const char* b = n.text.data();
            const char* e = b + n.text.size();
            if (t.kind == Type::Int) {
                std::int64_t v = 0;
                auto r = std::from_chars(b, e, v);
                const std::int64_t lim =
                    t.bits >= 64 ? INT64_MAX : (std::int64_t(1) << (t.bits - 1)) - 1;
                if (r.ec != std::errc() || r.ptr != e || v > lim || v < -lim - 1)
                    type_error(ctx, "number " + n.text, t.go_name);
                else
                    target = v;
            } else {
                std::uint64_t v = 0;
                auto r = std::from_chars(b, e, v);
                const std::uint64_t lim =
                    t.bits >= 64 ? UINT64_MAX : (std::uint64_t(1) << t.bits) - 1;
                if (n.text.starts_with('-') || r.ec != std::errc() || r.ptr != e || v > lim)
                    type_error(ctx, "number " + n.text, t.go_name);
                else
                    target = v;
            }
            return;
        }
        case Type::Struct:
            if (n.kind == Node::Object)
                decode_struct(n, t, target, ctx);
            else
                type_error(ctx, value_name(n), t.go_name);
            return;
        case Type::Slice: {
            if (n.kind != Node::Array) {
                type_error(ctx, value_name(n), t.go_name);
                return;
            }
            // Elements decode into the slice's existing elements, as Go reuses them.
            boost::json::array old = target.is_array() ? target.as_array() : boost::json::array();
            boost::json::array out;
            for (std::size_t i = 0; i < n.items.size(); ++i) {
                boost::json::value v = i < old.size() ? old[i] : zero(*t.elem);
                decode(n.items[i], *t.elem, v, ctx);
                out.push_back(std::move(v));
                if (ctx.fatal) return;
            }
            target = std::move(out);
            return;
        }
        case Type::Map: {
            if (n.kind != Node::Object) {
                type_error(ctx, value_name(n), t.go_name);
                return;
            }
            if (!target.is_object()) target = boost::json::object();
            for (const auto& [key, value] : n.members) {
                boost::json::value v = zero(*t.elem);  // map values are decoded fresh
                decode(value, *t.elem, v, ctx);
                target.as_object()[key] = std::move(v);
                if (ctx.fatal) return;
            }
            return;
        }
        default:
            return;
    }
}

Node round_trip(const Node& n, int depth) {
    Node out;
    if (depth > kInterfaceDepth) return out;  // null
    out.kind = n.kind;
    switch (n.kind) {
        case Node::Number:
            out.text = go_float(std::strtod(n.text.c_str(), nullptr));
            return out;
        case Node::Array:
            for (const auto& i : n.items) out.items.push_back(round_trip(i, depth + 1));
            return out;
        case Node::Object: {
            std::map<std::string, const Node*>
                sorted;  // Go's map: last duplicate wins; Marshal sorts keys
            for (const auto& [k, v] : n.members) sorted[k] = &v;
            for (const auto& [k, v] : sorted)
                out.members.emplace_back(k, round_trip(*v, depth + 1));
            return out;
        }
        case Node::String:
            out.text = n.text;
            out.raw = boost::json::serialize(boost::json::value(n.text));
            return out;
        default:
            out.boolean = n.boolean;
            return out;
    }
}

}  // namespace

std::string value_name(const Node& n) {
    switch (n.kind) {
        case Node::Bool:
            return "bool";
        case Node::Number:
            return "number";
        case Node::String:
            return "string";
        case Node::Array:
            return "array";
        case Node::Object:
            return "object";
        default:
            return "null";
    }
}

std::expected<Node, std::string> parse(std::string_view text) {
    // Go's scanner refuses nesting deeper than 10000 at the bracket that exceeds it (unless
    // the text before it is already wrong); this also bounds the recursion below.
    constexpr int kMaxDepth = 10000;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxDepth) {
                auto err = util::go_json_syntax_error(text.substr(0, i));
                if (err && *err != "unexpected end of JSON input") return std::unexpected(*err);
                return std::unexpected(std::string("invalid character '") + c +
                                       "' exceeded max depth");
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    if (auto err = util::go_json_syntax_error(text)) return std::unexpected(*err);
    Node n;
    Parser(text).parse(n);
    return n;
}

std::expected<Node, std::string> interface_round_trip(const Node& n) {
    if (auto big = huge_number(n))
        return std::unexpected("json: cannot unmarshal number " + *big +
                               " into Go value of type float64");
    return round_trip(n, 0);
}

Node::~Node() {
    // Children are moved out level by level, so no destructor recurses.
    if (items.empty() && members.empty()) return;
    std::vector<Node> pending;
    auto take = [&pending](Node& x) {
        for (auto& c : x.items) pending.push_back(std::move(c));
        for (auto& m : x.members) pending.push_back(std::move(m.second));
        x.items.clear();
        x.members.clear();
    };
    take(*this);
    while (!pending.empty()) {
        Node x = std::move(pending.back());
        pending.pop_back();
        take(x);
    }
}

std::optional<std::string> unmarshal(const Node& node, const Type& type,
                                     boost::json::value& target) {
    Ctx ctx;
    decode(node, type, target, ctx);
    if (ctx.fatal) return ctx.fatal;
    return ctx.saved;
}

std::string go_quote(std::string_view s) {
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\a':
                    out += "\\a";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                case '\v':
                    out += "\\v";
                    break;
                default:
                    if (c < 0x20 || c == 0x7f)
                        out += fmt::format("\\x{:02x}", c);
                    else
                        out += char(c);
            }
            ++i;
            continue;
        }
        const std::size_t len = utf8_len(s, i);
        if (len == 0) {
            out += fmt::format("\\x{:02x}", c);
            ++i;
            continue;
        }
        // Non-printable runes Go escapes; the C1 controls and the soft hyphen are the common ones.
        unsigned r = 0;
        if (len == 2) r = (c & 0x1F) << 6 | (s[i + 1] & 0x3F);
        if (len == 2 && (r < 0xA0 || r == 0xAD))
            out += fmt::format("\\u{:04x}", r);
        else
            out.append(s.substr(i, len));
        i += len;
    }
    return out + "\"";
}

}  // namespace osprey::server::auth::gojson
