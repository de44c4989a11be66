// The syntax errors of Go's encoding/json, word for word, for replies that quote them
// (nats-server answers a malformed pull request with "400 Bad Request - <Go's error>").
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace osprey::util {

// nullopt when `text` is one valid JSON value (with surrounding whitespace); else what Go's
// json.Unmarshal reports: "invalid character 'x' looking for beginning of value",
// "unexpected end of JSON input", ...
std::optional<std::string> go_json_syntax_error(std::string_view text);

}  // namespace osprey::util
