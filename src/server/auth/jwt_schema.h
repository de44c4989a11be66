// The Go struct layouts of jwt/v2 v2.3.0 (types, JSON names, custom decoders), as schemas for
// gojson::unmarshal. Internal to the JWT decoder.
#pragma once
#include "server/auth/go_unmarshal.h"

namespace osprey::server::auth::schema {

const gojson::Type& header();      // jwt.Header
const gojson::Type& identifier();  // jwt.identifier: top-level type + nats{tags,type,version}
// The top-level claims struct for a kind ("operator", "account", "user", "activation") and
// version 1 (v1*Claims) or 2; `generic()` for any other kind.
const gojson::Type& claims(std::string_view kind, int version);
const gojson::Type& generic();

}  // namespace osprey::server::auth::schema
