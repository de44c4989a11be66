// A port of the decisions of Go's encoding/json scanner (scan.go): the same states, so the
// first offending byte and the context named in the message are Go's.
#include "util/go_json.h"

#include <fmt/format.h>

#include <vector>

namespace osprey::util {

namespace {

std::string quote_char(unsigned char c) {
    if (c == '\'') return "'\\''";
    if (c == '"') return "'\"'";
    if (c >= 0x20 && c < 0x7f) return std::string("'") + char(c) + "'";
    switch (c) {
        case '\n': return "'\\n'";
        case '\r': return "'\\r'";
        case '\t': return "'\\t'";
        case '\a': return "'\\a'";
        case '\b': return "'\\b'";
        case '\f': return "'\\f'";
        case '\v': return "'\\v'";
        default: break;
    }
    // strconv.Quote of a lone byte: \x.. for control bytes, \ufffd for invalid UTF-8.
    if (c < 0x20 || c == 0x7f) return fmt::format("'\\x{:02x}'", c);
    return "'\\ufffd'";
}

bool space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

class Scanner {
public:
    std::optional<std::string> run(std::string_view s) {
        state_ = &Scanner::begin_value;
        for (std::size_t i = 0; i < s.size(); ++i) {
            (this->*state_)(static_cast<unsigned char>(s[i]));
            if (err_) return err_;
        }
        // At the end: a complete value, or a top-level number that ends with the input.
        if (state_ == &Scanner::end_top) return std::nullopt;
        const bool number_done = state_ == &Scanner::number_0 || state_ == &Scanner::number_1 ||
                                 state_ == &Scanner::number_dot0 || state_ == &Scanner::number_e0;
        if (number_done && stack_.empty()) return std::nullopt;
        return std::string("unexpected end of JSON input");
    }

private:
    enum Parse { ObjectKey, ObjectValue, ArrayValue };
    using State = void (Scanner::*)(unsigned char);
    State state_ = nullptr;
    std::vector<Parse> stack_;
    std::optional<std::string> err_;
    const char* literal_ = nullptr;  // the rest of true/false/null being read
    const char* literal_name_ = nullptr;

    void error(unsigned char c, const char* context) {
        err_ = "invalid character " + quote_char(c) + " " + context;
    }

    void end_value() {
        if (stack_.empty()) {
            state_ = &Scanner::end_top;
            return;
        }
        switch (stack_.back()) {
            case ObjectKey: state_ = &Scanner::after_key; break;
            case ObjectValue: state_ = &Scanner::after_object_value; break;
            case ArrayValue: state_ = &Scanner::after_array_value; break;
        }
    }
    // Called with the byte that ended a number (or literal) so the next state sees it.
    void end_value_then(unsigned char c) {
        end_value();
        (this->*state_)(c);
    }

    void begin_value(unsigned char c) {
        if (space(c)) return;
        switch (c) {
            case '{':
                stack_.push_back(ObjectKey);
                state_ = &Scanner::begin_string_or_empty;
                return;
            case '[':
                stack_.push_back(ArrayValue);
                state_ = &Scanner::begin_value_or_empty;
                return;
            case '"': state_ = &Scanner::in_string; return;
            case '-': state_ = &Scanner::neg; return;
            case '0': state_ = &Scanner::number_0; return;
            case 't': start_literal("rue", "true"); return;
            case 'f': start_literal("alse", "false"); return;
            case 'n': start_literal("ull", "null"); return;
            default: break;
        }
        if (c >= '1' && c <= '9') {
            state_ = &Scanner::number_1;
            return;
        }
        error(c, "looking for beginning of value");
    }
    void begin_value_or_empty(unsigned char c) {
        if (space(c)) return;
        if (c == ']') {
            stack_.pop_back();
            end_value();
            return;
        }
        begin_value(c);
    }
    void begin_string_or_empty(unsigned char c) {
        if (space(c)) return;
        if (c == '}') {
            stack_.pop_back();
            end_value();
            return;
        }
        begin_string(c);
    }
    void begin_string(unsigned char c) {
        if (space(c)) return;
        if (c == '"') {
            state_ = &Scanner::in_string;
            return;
        }
        error(c, "looking for beginning of object key string");
    }
    void after_key(unsigned char c) {
        if (space(c)) return;
        if (c == ':') {
            stack_.back() = ObjectValue;
            state_ = &Scanner::begin_value;
            return;
        }
        error(c, "after object key");
    }
    void after_object_value(unsigned char c) {
        if (space(c)) return;
        if (c == ',') {
            stack_.back() = ObjectKey;
            state_ = &Scanner::begin_string;
            return;
        }
        if (c == '}') {
            stack_.pop_back();
            end_value();
            return;
        }
        error(c, "after object key:value pair");
    }
    void after_array_value(unsigned char c) {
        if (space(c)) return;
        if (c == ',') {
            state_ = &Scanner::begin_value;
            return;
        }
        if (c == ']') {
            stack_.pop_back();
            end_value();
            return;
        }
        error(c, "after array element");
    }
    void end_top(unsigned char c) {
        if (!space(c)) error(c, "after top-level value");
    }
    void in_string(unsigned char c) {
        if (c == '"') {
            end_value();
            return;
        }
        if (c == '\\') {
            state_ = &Scanner::in_string_esc;
            return;
        }
        if (c < 0x20) error(c, "in string literal");
    }
    void in_string_esc(unsigned char c) {
        switch (c) {
            case 'b': case 'f': case 'n': case 'r': case 't': case '\\': case '/': case '"':
                state_ = &Scanner::in_string;
                return;
            case 'u':
                hex_left_ = 4;
                state_ = &Scanner::in_string_hex;
                return;
            default: error(c, "in string escape code");
        }
    }
    int hex_left_ = 0;
    void in_string_hex(unsigned char c) {
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
            if (--hex_left_ == 0) state_ = &Scanner::in_string;
            return;
        }
        error(c, "in \\u hexadecimal character escape");
    }
    void neg(unsigned char c) {
        if (c == '0') {
            state_ = &Scanner::number_0;
            return;
        }
        if (c >= '1' && c <= '9') {
            state_ = &Scanner::number_1;
            return;
        }
        error(c, "in numeric literal");
    }
    void number_1(unsigned char c) {
        if (c >= '0' && c <= '9') return;
        number_0(c);
    }
    void number_0(unsigned char c) {
        if (c == '.') {
            state_ = &Scanner::number_dot;
            return;
        }
        if (c == 'e' || c == 'E') {
            state_ = &Scanner::number_e;
            return;
        }
        end_value_then(c);
    }
    void number_dot(unsigned char c) {
        if (c >= '0' && c <= '9') {
            state_ = &Scanner::number_dot0;
            return;
        }
        error(c, "after decimal point in numeric literal");
    }
    void number_dot0(unsigned char c) {
        if (c >= '0' && c <= '9') return;
        if (c == 'e' || c == 'E') {
            state_ = &Scanner::number_e;
            return;
        }
        end_value_then(c);
    }
    void number_e(unsigned char c) {
        if (c == '+' || c == '-') {
            state_ = &Scanner::number_e_sign;
            return;
        }
        number_e_sign(c);
    }
    void number_e_sign(unsigned char c) {
        if (c >= '0' && c <= '9') {
            state_ = &Scanner::number_e0;
            return;
        }
        error(c, "in exponent of numeric literal");
    }
    void number_e0(unsigned char c) {
        if (c >= '0' && c <= '9') return;
        end_value_then(c);
    }
    void start_literal(const char* rest, const char* name) {
        literal_ = rest;
        literal_name_ = name;
        state_ = &Scanner::in_literal;
    }
    void in_literal(unsigned char c) {
        if (c == static_cast<unsigned char>(*literal_)) {
            if (*++literal_ == '\0') end_value();
            return;
        }
        err_ = fmt::format("invalid character {} in literal {} (expecting '{}')", quote_char(c),
                           literal_name_, *literal_);
    }
};

}  // namespace

std::optional<std::string> go_json_syntax_error(std::string_view text) { return Scanner().run(text); }

}  // namespace osprey::util
