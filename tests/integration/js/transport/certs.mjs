// Test PKI for the TLS and wss tests, made at run time with the `openssl` CLI into a fresh
// temp dir (no key is ever committed). EC P-256 keys: the whole set takes well under a second.
//
//   ca            "O=Osprey Test, CN=Osprey Test CA" (self-signed)
//   otherCa       "O=Other Test, CN=Other Test CA" (self-signed, unrelated to ca)
//   server        CN=localhost, SAN DNS:localhost, IP:127.0.0.1, by ca
//   server2       CN=localhost-2, same SANs, by ca (the reload test's second certificate)
//   wrongHost     CN=wronghost.example, SAN DNS:wronghost.example only, by ca
//   expired       CN=localhost, SAN DNS:localhost, IP:127.0.0.1, by ca, valid only 2020-01-01..02
//   alice         subject (in certificate order) O=Osprey, OU=eng, CN=alice; no SAN; by ca
//   aliceReversed subject (in certificate order) CN=alice, OU=eng, O=Osprey; by ca
//   aliceEmail    CN=alice-mail, SAN email:alice@example.com, by ca
//   svcDns        CN=svc, SAN DNS:svc.osprey.test, by ca
//   mallory       O=Osprey, OU=eng, CN=mallory, no SAN, by ca (mapped to no user)
//   otherAlice    O=Osprey, OU=eng, CN=alice, by otherCa (same subject as alice, wrong issuer)
//
// Each entry is { cert, key } (file paths) plus `serial` (lowercase hex, no leading zeros) and
// `subject` (the -subj string); ca/otherCa also carry `cert`/`key`.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const EXTENSIONS = `
[ req ]
distinguished_name = req_dn
[ req_dn ]

[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ server_localhost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ server_wronghost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wronghost.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_plain ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_email ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:alice@example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_dns ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:svc.osprey.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

# "openssl ca" only for the expired certificate: "openssl x509 -req" of OpenSSL 3.0 cannot set
# a not-before/not-after in the past (-not_before/-not_after came with 3.4; "-days -1" gives a
# not-after before the not-before).
[ expired_ca ]
database = $ENV::CERTS_DIR/index.txt
new_certs_dir = $ENV::CERTS_DIR
serial = $ENV::CERTS_DIR/serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[ policy_any ]
commonName = supplied
`;

function openssl(dir, args) {
  try {
    execFileSync("openssl", args, {
      cwd: dir,
      env: { ...process.env, CERTS_DIR: dir, OPENSSL_CONF: join(dir, "openssl.cnf") },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 20_000,
    });
  } catch (e) {
    throw new Error(`openssl ${args.join(" ")}: ${e.stderr?.toString() ?? e.message}`);
  }
}

function newKey(dir, name) {
  const key = join(dir, `${name}.key`);
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
  return key;
}

// A positive serial of 16 hex digits (first digit non-zero), as OpenSSL and node print it.
function newSerial() {
  const b = randomBytes(8);
  b[0] = (b[0] & 0x7f) | 0x10;
  return b.toString("hex");
}

function selfSigned(dir, name, subject) {
  const key = newKey(dir, name);
  const cert = join(dir, `${name}.pem`);
  const serial = newSerial();
  openssl(dir, ["req", "-x509", "-new", "-key", key, "-subj", subject, "-days", "3",
    "-set_serial", `0x${serial}`, "-config", join(dir, "openssl.cnf"), "-extensions", "v3_ca",
    "-sha256", "-out", cert]);
  return { cert, key, serial, subject };
}

function csr(dir, name, subject) {
  const key = newKey(dir, name);
  const req = join(dir, `${name}.csr`);
  openssl(dir, ["req", "-new", "-key", key, "-subj", subject, "-config", join(dir, "openssl.cnf"),
    "-out", req]);
  return { key, req };
}

function signed(dir, issuer, name, subject, extensions) {
  const { key, req } = csr(dir, name, subject);
  const cert = join(dir, `${name}.pem`);
  const serial = newSerial();
  openssl(dir, ["x509", "-req", "-in", req, "-CA", issuer.cert, "-CAkey", issuer.key,
    "-set_serial", `0x${serial}`, "-days", "3", "-sha256",
    "-extfile", join(dir, "openssl.cnf"), "-extensions", extensions, "-out", cert]);
  return { cert, key, serial, subject };
}

function expiredCert(dir, issuer, name, subject) {
  const { key, req } = csr(dir, name, subject);
  const cert = join(dir, `${name}.pem`);
  const serial = newSerial();
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), `${serial}\n`);
  openssl(dir, ["ca", "-batch", "-config", join(dir, "openssl.cnf"), "-name", "expired_ca",
    "-cert", issuer.cert, "-keyfile", issuer.key, "-in", req, "-out", cert, "-notext",
    "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
    "-extensions", "server_localhost", "-extfile", join(dir, "openssl.cnf")]);
  return { cert, key, serial, subject };
}

// Makes the whole set in a new temp dir; `cleanup()` removes it.
export function generateCerts() {
  const dir = mkdtempSync(join(tmpdir(), "osprey-certs-"));
  writeFileSync(join(dir, "openssl.cnf"), EXTENSIONS);
  const ca = selfSigned(dir, "ca", "/O=Osprey Test/CN=Osprey Test CA");
  const otherCa = selfSigned(dir, "other-ca", "/O=Other Test/CN=Other Test CA");
  const certs = {
    dir,
    ca,
    otherCa,
    server: signed(dir, ca, "server", "/CN=localhost", "server_localhost"),
    server2: signed(dir, ca, "server2", "/CN=localhost-2", "server_localhost"),
    wrongHost: signed(dir, ca, "wronghost", "/CN=wronghost.example", "server_wronghost"),
    expired: expiredCert(dir, ca, "expired", "/CN=localhost"),
    alice: signed(dir, ca, "alice", "/O=Osprey/OU=eng/CN=alice", "client_plain"),
    aliceEmail: signed(dir, ca, "alice-email", "/CN=alice-mail", "client_email"),
    svcDns: signed(dir, ca, "svc-dns", "/CN=svc", "client_dns"),
    aliceReversed: signed(dir, ca, "alice-reversed", "/CN=alice/OU=eng/O=Osprey", "client_plain"),
    mallory: signed(dir, ca, "mallory", "/O=Osprey/OU=eng/CN=mallory", "client_plain"),
    otherAlice: signed(dir, otherCa, "other-alice", "/O=Osprey/OU=eng/CN=alice", "client_plain"),
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
  return certs;
}
