// Reading NATS message headers ("NATS/1.0\r\nKey: Value\r\n...\r\n\r\n"). Pure.
#pragma once
#include <string_view>

namespace osprey::jetstream {

// The value of the first header named `key` (exact case, as nats-server matches), trimmed;
// empty if absent.
std::string_view header_value(std::string_view hdr, std::string_view key);

}  // namespace osprey::jetstream
