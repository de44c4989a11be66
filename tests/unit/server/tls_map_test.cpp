// verify_and_map: which user a client certificate names, in nats-server 2.9.10's order.
#include "server/auth/tls_map.h"

#include <gtest/gtest.h>

#include <set>

namespace osprey::server::auth {
namespace {

CertNames alice() {
    CertNames c;
    // -subj "/O=Osprey/OU=eng/CN=alice": certificate order, most significant first.
    c.subject = {{{"O", "Osprey"}}, {{"OU", "eng"}}, {{"CN", "alice"}}};
    return c;
}

std::optional<std::string> map(const CertNames& c, std::vector<std::string> users) {
    std::set<std::string> known(users.begin(), users.end());
    return map_certificate(c, users, [&](const std::string& n) { return known.contains(n); });
}

TEST(TlsMap, GoPrintsTheSubjectInAFixedOrderWithoutOtherAttributes) {
    EXPECT_EQ(rdn_string(alice()), "CN=alice,OU=eng,O=Osprey");
    CertNames c;
    c.subject = {{{"C", "US"}}, {{"ST", "CA"}}, {{"L", "SF"}}, {{"O", "Synadia"}}, {{"OU", "nats.io"}}, {{"CN", "alice"}}};
    EXPECT_EQ(rdn_string(c), "CN=alice,OU=nats.io,O=Synadia,L=SF,ST=CA,C=US");
    // Order by type, not by the certificate; DCs and e-mail addresses left out; OUs together.
    CertNames d;
    d.subject = {{{"DC", "org"}}, {{"DC", "example"}}, {{"O", "Acme"}}, {{"OU", "ou1"}}, {{"OU", "ou2"}},
                 {{"CN", "carol"}}, {{"1.2.840.113549.1.9.1", "carol@x.com"}}};
    EXPECT_EQ(rdn_string(d), "CN=carol,OU=ou1+OU=ou2,O=Acme");
    CertNames e;
    e.subject = {{{"CN", "a,b+c"}}, {{"O", " lead"}}};
    EXPECT_EQ(rdn_string(e), "CN=a\\,b\\+c,O=\\ lead");
}

TEST(TlsMap, SansComeFirstThenTheDistinguishedName) {
    CertNames c = alice();
    c.emails = {"alice@example.com"};
    c.dns_names = {"alice.example.com"};
    EXPECT_EQ(map(c, {"CN=alice,OU=eng,O=Osprey", "alice@example.com", "alice.example.com"}), "alice@example.com");
    EXPECT_EQ(map(c, {"CN=alice,OU=eng,O=Osprey", "alice.example.com"}), "alice.example.com");
    EXPECT_EQ(map(c, {"CN=alice,OU=eng,O=Osprey"}), "CN=alice,OU=eng,O=Osprey");
    EXPECT_EQ(map(c, {"bob"}), std::nullopt);
}

TEST(TlsMap, TheDistinguishedNameMatchesInAnyOrderAndSpelling) {
    const CertNames c = alice();
    EXPECT_EQ(map(c, {"O=Osprey,OU=eng,CN=alice"}), "O=Osprey,OU=eng,CN=alice");
    EXPECT_EQ(map(c, {"CN=alice, OU=eng, O=Osprey"}), "CN=alice, OU=eng, O=Osprey");
    EXPECT_EQ(map(c, {"cn=alice,ou=eng,o=Osprey"}), "cn=alice,ou=eng,o=Osprey");
    // Values are compared exactly, and every RDN must be there.
    EXPECT_EQ(map(c, {"CN=Alice,OU=eng,O=Osprey"}), std::nullopt);
    EXPECT_EQ(map(c, {"CN=alice,O=Osprey"}), std::nullopt);
    // The exact order wins over a reordering.
    EXPECT_EQ(map(c, {"O=Osprey,OU=eng,CN=alice", "CN=alice,OU=eng,O=Osprey"}), "CN=alice,OU=eng,O=Osprey");
}

TEST(TlsMap, DomainComponentsAreAppendedInCertificateOrder) {
    CertNames c;
    c.subject = {{{"DC", "org"}}, {{"DC", "example"}}, {{"CN", "carol"}}, {{"1.2.3.4", "x"}}};
    // An unknown attribute keeps the DN comparison out; the string forms still match.
    EXPECT_EQ(map(c, {"CN=carol,DC=org,DC=example"}), "CN=carol,DC=org,DC=example");
    EXPECT_EQ(map(c, {"CN=carol"}), "CN=carol");
}

}  // namespace
}  // namespace osprey::server::auth
