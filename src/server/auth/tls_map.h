// verify_and_map (nats-server 2.9.10's checkClientTLSCertSubject): which configured user a
// client certificate names. Tried in nats-server's order: the email SANs, the DNS SANs and
// the URI SANs as user names; then the subject as a distinguished name, equal to a user's
// (attribute types in any case, then with the RDNs in any order); then the subject's string
// as Go prints it ("CN=alice,OU=eng,O=Osprey"), with its DCs appended and without.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "transport/tls_session.h"

namespace osprey::server::auth {

using CertNames = transport::PeerCertificate;

// Go's cert.Subject.ToRDNSequence().String(): C, ST, L, STREET, POSTALCODE, O, OU, CN,
// SERIALNUMBER only, printed last first ("CN=alice,OU=eng,O=Osprey"), RFC 4514 escaping.
std::string rdn_string(const CertNames& c);

// `allowed(name)`: a user by that exact name exists and may use this connection type.
// `users`: every such user's name, for the DN comparisons.
std::optional<std::string> map_certificate(const CertNames& c, const std::vector<std::string>& users,
                                           const std::function<bool(const std::string&)>& allowed);

}  // namespace osprey::server::auth
