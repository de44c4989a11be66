// A subject transform as nats-server builds it for republish and mappings: a source pattern
// and a destination whose {{wildcard(n)}} (or legacy $n) tokens take the n-th '*' of the
// source, and whose '>' takes the source's '>'. Pure.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osprey::subjects {

class Transform {
public:
    // nullopt where nats-server's newTransform refuses the pair (a bare '*' in the
    // destination, a '>' on one side only, a wildcard index out of range, a source wildcard
    // left unused, a function it does not know).
    static std::optional<Transform> compile(std::string_view src, std::string_view dest);
    // The destination for `subject`, which matches the source.
    std::string apply(std::string_view subject) const;

private:
    struct Part {
        std::string literal;  // when index < 0
        int index = -1;       // 0-based into the source's '*' tokens; -2: the '>' tail
    };
    std::vector<std::string> src_;  // source tokens
    std::vector<Part> dest_;
};

}  // namespace osprey::subjects
