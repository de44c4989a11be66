#include "subjects/mapping.h"

#include <vector>

#include "subjects/subject.h"

namespace osprey::subjects {

std::string map_subject(std::string_view subject, std::string_view from, std::string_view to) {
    if (to.empty() || from == to) return std::string(subject);
    std::vector<std::string_view> captured;
    subjects::Tokens ft(from), st(subject);
    std::string_view f, s;
    while (ft.next(f)) {
        if (!st.next(s)) break;
        if (f == ">") {
            std::string_view restv(s.data(), subject.data() + subject.size() - s.data());
            captured.push_back(restv);
            break;
        }
        if (f == "*") captured.push_back(s);
    }
    std::string out;
    subjects::Tokens tt(to);
    std::string_view t;
    std::size_t ci = 0;
    while (tt.next(t)) {
        if (!out.empty()) out += '.';
        if ((t == "*" || t == ">") && ci < captured.size()) {
            out += captured[ci++];
        } else {
            out += t;
        }
    }
    return out;
}

}  // namespace osprey::subjects
