"""Test certificates made with the openssl command line into a directory.

``make_certs(dir, kind)`` with kind "rsa" (2048 bit) or "ec" (P-256) writes:

- ``ca.pem`` / ``ca.key``: the test CA;
- ``server.pem`` / ``server.key``: signed by the CA for 127.0.0.1 and localhost
  (subjectAltName IP and DNS);
- ``wrongname.pem`` / ``wrongname.key``: signed by the CA for wrong.example only;
- ``expired.pem`` / ``expired.key``: signed by the CA, valid only in January 2020,
  and ``future.pem`` / ``future.key``, valid only from 2090 (``openssl ca`` with
  explicit -startdate/-enddate: OpenSSL 3.0's ``x509`` cannot set dates);
- ``rogue_ca.pem`` and ``rogue.pem`` / ``rogue.key``: a different CA with the same
  subject name, and a server certificate for 127.0.0.1 it signed;
- ``client.pem`` / ``client.key`` (CN fieldnode-client, clientAuth) for mutual TLS,
  and the same as DER: ``client.der`` / ``client.key.der``, ``ca.der``; the key
  encrypted (passphrase ``x``): ``client_enc.key`` (PKCS#8), ``client_enc_legacy.key``.

Returns a dict name -> path. The lines are the ones the README shows.
"""

import os
import subprocess

_SAN_SERVER = "subjectAltName=IP:127.0.0.1,DNS:localhost"
_CA_DAYS = "3650"


def _run(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True, capture_output=True)


def _key(name, kind, cwd):
    if kind == "ec":
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", name, cwd=cwd)
    else:
        _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", name, cwd=cwd)


def _ca(name, kind, cwd):
    _key(name + ".key", kind, cwd)
    _run("req", "-x509", "-new", "-key", name + ".key", "-sha256", "-days", _CA_DAYS,
         "-subj", "/CN=Fieldnode Test CA", "-out", name + ".pem", cwd=cwd)


def _leaf(name, ca, cn, ext, kind, cwd, days="825"):
    _key(name + ".key", kind, cwd)
    _run("req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-out",
         name + ".csr", cwd=cwd)
    with open(os.path.join(cwd, name + ".ext"), "w") as f:
        f.write(ext + "\n")
    _run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
         "-CAcreateserial", "-days", days, "-sha256", "-extfile", name + ".ext",
         "-out", name + ".pem", cwd=cwd)


_CA_CNF = """[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[ext]
subjectAltName = IP:127.0.0.1,DNS:localhost
"""


def _dated(name, start, end, kind, cwd):
    # openssl ca takes explicit validity dates (OpenSSL 3.0's x509 cannot)
    _key(name + ".key", kind, cwd)
    _run("req", "-new", "-key", name + ".key", "-subj", "/CN=127.0.0.1", "-out",
         name + ".csr", cwd=cwd)
    if not os.path.exists(os.path.join(cwd, "ca.cnf")):
        with open(os.path.join(cwd, "ca.cnf"), "w") as f:
            f.write(_CA_CNF)
        open(os.path.join(cwd, "index.txt"), "w").close()
        with open(os.path.join(cwd, "serial.txt"), "w") as f:
            f.write("1000\n")
    _run("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
         "-in", name + ".csr", "-out", name + ".pem", "-notext", "-extensions", "ext",
         "-startdate", start, "-enddate", end, cwd=cwd)


def make_certs(directory, kind="rsa"):
    """Write the test PKI of `kind` ("rsa" or "ec") into `directory`; name -> path."""
    d = str(directory)
    os.makedirs(d, exist_ok=True)
    _ca("ca", kind, d)
    _leaf("server", "ca", "127.0.0.1", _SAN_SERVER, kind, d)
    _leaf("wrongname", "ca", "wrong.example", "subjectAltName=DNS:wrong.example", kind, d)
    _dated("expired", "20200101000000Z", "20200201000000Z", kind, d)
    _dated("future", "20900101000000Z", "20910101000000Z", kind, d)
    _ca("rogue_ca", kind, d)
    _leaf("rogue", "rogue_ca", "127.0.0.1", _SAN_SERVER, kind, d)
    _leaf("client", "ca", "fieldnode-client", "extendedKeyUsage=clientAuth", kind, d)
    _run("x509", "-in", "client.pem", "-outform", "DER", "-out", "client.der", cwd=d)
    _run("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der", cwd=d)
    _run("pkey", "-in", "client.key", "-outform", "DER", "-out", "client.key.der", cwd=d)
    # the client key encrypted (PKCS#8, and OpenSSL's legacy Proc-Type headers)
    _run("pkey", "-in", "client.key", "-aes256", "-passout", "pass:x", "-out",
         "client_enc.key", cwd=d)
    _run("pkey", "-in", "client.key", "-aes256", "-passout", "pass:x", "-traditional",
         "-out", "client_enc_legacy.key", cwd=d)
    names = ("ca.pem", "ca.key", "ca.der", "server.pem", "server.key", "wrongname.pem",
             "wrongname.key", "expired.pem", "expired.key", "future.pem", "future.key",
             "rogue_ca.pem", "rogue.pem",
             "rogue.key", "client.pem", "client.key", "client.der", "client.key.der", "client_enc.key",
             "client_enc_legacy.key")
    return {n: os.path.join(d, n) for n in names}
