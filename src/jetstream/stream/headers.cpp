#include "jetstream/stream/headers.h"

namespace osprey::jetstream {

std::string_view header_value(std::string_view hdr, std::string_view key) {
    std::size_t pos = hdr.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < hdr.size()) {
        std::size_t start = pos + 2;
        std::size_t end = hdr.find("\r\n", start);
        if (end == std::string_view::npos) end = hdr.size();
        std::string_view line = hdr.substr(start, end - start);
        if (line.size() > key.size() && line.substr(0, key.size()) == key &&
            line[key.size()] == ':') {
            std::string_view v = line.substr(key.size() + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
            return v;
        }
        pos = end;
    }
    return {};
}

}  // namespace osprey::jetstream
