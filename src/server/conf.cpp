#include "server/conf.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace osprey::server::conf {

const Value* Value::find(std::string_view key) const {
    if (!is_map()) return nullptr;
    for (const auto& [k, v] : map()) {
        if (k.size() != key.size()) continue;
        bool eq = true;
        for (std::size_t i = 0; i < k.size(); ++i)
            if (std::tolower((unsigned char)k[i]) != std::tolower((unsigned char)key[i])) {
                eq = false;
                break;
            }
        if (eq) return &v;
    }
    return nullptr;
}

namespace {

struct ParseError {
    std::string msg;
};

class Parser {
public:
    Parser(std::string_view text, std::string file, int depth)
        : s_(text), file_(std::move(file)), depth_(depth) {}

    Map parse_top() {
        scopes_.push_back(&top_);
        parse_entries(top_, '\0');
        return std::move(top_);
    }

    std::vector<const Map*> outer_scopes;  // variables visible from an including file

private:
    [[noreturn]] void fail(const std::string& msg) { fail_at(line_, col_, msg); }
    [[noreturn]] void fail_at(int line, int col, const std::string& msg) {
        throw ParseError{fmt::format("{}{}:{}: {}", file_.empty() ? "" : file_ + ":", line,
                                     col, msg)};
    }

    bool eof() const { return i_ >= s_.size(); }
    char peek(std::size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
    char get() {
        char c = s_[i_++];
        if (c == '\n') {
            ++line_;
            col_ = 1;
        } else {
            ++col_;
        }
        return c;
    }

    // Skips blanks and comments; newlines too when `newlines` is set.
    void skip(bool newlines) {
        while (!eof()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
                get();
            } else if (c == '#' || (c == '/' && peek(1) == '/')) {
                while (!eof() && peek() != '\n') get();
            } else {
                break;
            }
        }
    }

    static bool key_char(char c) {
        return std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == '$' ||
               c == '/' || c == '@';
    }

    void parse_entries(Map& m, char close) {
        while (true) {
            skip(true);
            while (!eof() && (peek() == ',' || peek() == ';')) {
                get();
                skip(true);
            }
            if (eof()) {
                if (close) fail("unexpected end of file, expected '" + std::string(1, close) + "'");
                return;
            }
            if (peek() == close) {
                get();
                return;
            }
            const int kl = line_, kc = col_;
            std::string key;
            if (peek() == '"' || peek() == '\'') {
                key = parse_quoted();
            } else {
                while (!eof() && key_char(peek())) key += get();
            }
            if (key.empty()) fail(fmt::format("unexpected character '{}'", peek()));
            skip(false);
            if (key == "include") {
                std::string path;
                if (peek() == '"' || peek() == '\'') {
                    path = parse_quoted();
                } else {
                    while (!eof() && !std::isspace((unsigned char)peek()) && peek() != ';' &&
                           peek() != ',' && peek() != '}')
                        path += get();
                }
                include(m, path, kl, kc);
                continue;
            }
            if (peek() == ':' || peek() == '=') {
                get();
                skip(false);
            }
            if (eof() || peek() == '\n') fail_at(kl, kc, "key \"" + key + "\" has no value");
            Value v = parse_value();
            v.key_line = kl;
            v.key_col = kc;
            set(m, key, std::move(v));
        }
    }

    static void set(Map& m, const std::string& key, Value v) {
        for (auto& [k, old] : m) {
            if (k == key) {
                old = std::move(v);
                return;
            }
        }
        m.emplace_back(key, std::move(v));
    }

    void include(Map& m, const std::string& path, int line, int col) {
        if (depth_ > 10) fail_at(line, col, "include nesting too deep");
        std::string full = path;
        if (!path.empty() && path[0] != '/' && !file_.empty()) {
            auto slash = file_.rfind('/');
            if (slash != std::string::npos) full = file_.substr(0, slash + 1) + path;
        }
        std::ifstream f(full);
        if (!f) fail_at(line, col, "error opening include file \"" + full + "\"");
        std::stringstream ss;
        ss << f.rdbuf();
        std::string text = ss.str();
        Parser sub(text, full, depth_ + 1);
        sub.outer_scopes = scopes_;
        Map inc = sub.parse_top();
        for (auto& [k, v] : inc) set(m, k, std::move(v));
    }

    std::string parse_quoted() {
        const char q = get();
        const int l = line_, c = col_;
        std::string out;
        while (true) {
            if (eof() || peek() == '\n') fail_at(l, c, "unterminated string");
            char ch = get();
            if (ch == q) break;
            if (ch == '\\' && q == '"') {
                if (eof()) fail("unterminated string");
                char e = get();
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case '\\': out += '\\'; break;
                    case '"': out += '"'; break;
                    default:
                        out += '\\';
                        out += e;
                }
                continue;
            }
            out += ch;
        }
        return out;
    }

    const Value* lookup_var(const std::string& name) const {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
            for (auto& [k, v] : **it)
                if (k == name) return &v;
        for (auto it = outer_scopes.rbegin(); it != outer_scopes.rend(); ++it)
            for (auto& [k, v] : **it)
                if (k == name) return &v;
        return nullptr;
    }

    Value parse_value() {
        Value v;
        v.line = line_;
        v.col = col_;
        char c = peek();
        if (c == '{') {
            get();
            Map m;
            scopes_.push_back(&m);
            parse_entries(m, '}');
            scopes_.pop_back();
            v.v = std::move(m);
            return v;
        }
        if (c == '[') {
            get();
            Array a;
            while (true) {
                skip(true);
                while (!eof() && peek() == ',') {
                    get();
                    skip(true);
                }
                if (eof()) fail_at(v.line, v.col, "unterminated array");
                if (peek() == ']') {
                    get();
                    break;
                }
                a.push_back(parse_value());
            }
            v.v = std::move(a);
            return v;
        }
        if (c == '"' || c == '\'') {
            v.v = parse_quoted();
            return v;
        }
        if (c == '$') {
            get();
            std::string name;
            while (!eof() && key_char(peek())) name += get();
            if (const Value* ref = lookup_var(name)) {
                ref->used_as_variable = true;
                Value copy = *ref;
                copy.used_as_variable = false;
                copy.line = v.line;
                copy.col = v.col;
                return copy;
            }
            if (const char* env = std::getenv(name.c_str())) {
                // Environment values are parsed like literal values.
                std::string text = env;
                Parser p(text, file_, depth_ + 1);
                Value ev = p.parse_bare_or_quoted();
                ev.line = v.line;
                ev.col = v.col;
                return ev;
            }
            fail_at(v.line, v.col, "variable reference for '" + name + "' on line " +
                                       std::to_string(v.line) + " can not be found");
        }
        // A bare word: up to the end of the line, a comma, or a closing bracket. "//" starts
        // a comment only after a blank, so that URLs (nats://host:port) stay whole.
        std::string word;
        while (!eof()) {
            char ch = peek();
            if (ch == '\n' || ch == ',' || ch == ';' || ch == '}' || ch == ']' || ch == '#' ||
                (ch == '/' && peek(1) == '/' && (word.empty() || word.back() == ' ' || word.back() == '\t')))
                break;
            word += get();
        }
        while (!word.empty() && (word.back() == ' ' || word.back() == '\t' || word.back() == '\r'))
            word.pop_back();
        if (word.empty()) fail_at(v.line, v.col, "expected a value");
        v.v = scalar(word).v;
        return v;
    }

public:
    Value parse_bare_or_quoted() {
        skip(false);
        if (peek() == '"' || peek() == '\'' || peek() == '{' || peek() == '[') return parse_value();
        std::string word(s_.substr(i_));
        while (!word.empty() && std::isspace((unsigned char)word.back())) word.pop_back();
        return scalar(word);
    }

    static Value scalar(const std::string& word) {
        Value v;
        std::string lower;
        for (char ch : word) lower += char(std::tolower((unsigned char)ch));
        if (lower == "true" || lower == "yes" || lower == "on") {
            v.v = true;
            return v;
        }
        if (lower == "false" || lower == "no" || lower == "off") {
            v.v = false;
            return v;
        }
        // Number with optional size suffix.
        std::size_t i = 0;
        if (i < word.size() && (word[i] == '-' || word[i] == '+')) ++i;
        std::size_t digits_start = i;
        while (i < word.size() && std::isdigit((unsigned char)word[i])) ++i;
        if (i > digits_start) {
            bool is_float = false;
            if (i < word.size() && word[i] == '.') {
                std::size_t j = i + 1;
                while (j < word.size() && std::isdigit((unsigned char)word[j])) ++j;
                if (j > i + 1 && j == word.size()) {
                    v.v = std::strtod(word.c_str(), nullptr);
                    return v;
                }
                is_float = true;
            }
            if (!is_float) {
                std::string suffix = lower.substr(i);
                std::int64_t mult = 0;
                if (suffix.empty()) mult = 1;
                else if (suffix == "k") mult = 1000;
                else if (suffix == "kb" || suffix == "ki" || suffix == "kib") mult = 1024;
                else if (suffix == "m") mult = 1000 * 1000;
                else if (suffix == "mb" || suffix == "mi" || suffix == "mib") mult = 1024 * 1024;
                else if (suffix == "g") mult = 1000LL * 1000 * 1000;
                else if (suffix == "gb" || suffix == "gi" || suffix == "gib")
                    mult = 1024LL * 1024 * 1024;
                else if (suffix == "t") mult = 1000LL * 1000 * 1000 * 1000;
                else if (suffix == "tb" || suffix == "ti" || suffix == "tib")
                    mult = 1024LL * 1024 * 1024 * 1024;
                if (mult) {
                    v.v = std::strtoll(word.substr(0, i).c_str(), nullptr, 10) * mult;
                    return v;
                }
            }
        }
        v.v = word;
        return v;
    }

private:
    std::string_view s_;
    std::string file_;
    int depth_;
    std::size_t i_ = 0;
    int line_ = 1, col_ = 1;
    Map top_;
    std::vector<const Map*> scopes_;
};

}  // namespace

std::expected<Map, std::string> parse(std::string_view text, const std::string& file) {
    try {
        Parser p(text, file, 0);
        return p.parse_top();
    } catch (const ParseError& e) {
        return std::unexpected(e.msg);
    }
}

std::expected<Map, std::string> parse_file(const std::string& path) {
    std::ifstream f(path);
    if (!f) return std::unexpected("error opening config file: open " + path +
                                   ": no such file or directory");
    std::stringstream ss;
    ss << f.rdbuf();
    return parse(ss.str(), path);
}

}  // namespace osprey::server::conf
