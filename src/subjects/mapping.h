// Subject mapping between two patterns, token-wise: the wildcard tokens of `from` ('*', and
// '>' for the rest) fill the wildcard tokens of `to` in order ("a.*.>" -> "b.*.>" maps
// "a.x.y.z" to "b.x.y.z"). Used by account imports and stream republish. Pure.
#pragma once
#include <string>
#include <string_view>

namespace osprey::subjects {

std::string map_subject(std::string_view subject, std::string_view from, std::string_view to);

}  // namespace osprey::subjects
