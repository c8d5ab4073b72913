"""fieldnode monitor and cmd over mqtts:// against a real Mosquitto with TLS listeners
(certificates made by openssl, host_tests/certs.py): --cafile, mutual TLS with
--cert/--key, --insecure, and the failures named on one line (a certificate refused
either way, a missing client certificate, no answer within --timeout). The node (the
firmware under CPython) is on the same broker's plain listener; the CLI reaches it
through the TLS ones."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from broker import Broker, free_port
from certs import make_certs
from fieldnode_cli import fieldnode
from firmware_node import FAST, NodeProc
from runtimes import tool
from test_tls import tls_listener

DEVICE = "cli-tls-node"
# far above what any of these takes (well under a second here): a refusal that waited
# for a timeout instead would show
QUICK = 15


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    certs = str(tmp_path_factory.mktemp("certs"))
    make_certs(certs, "ec")
    other = str(tmp_path_factory.mktemp("other_certs"))     # another CA and its client
    make_certs(other, "ec")
    ports = {name: free_port() for name in ("tls", "mtls", "wrongname")}
    b = Broker(tmp_path_factory.mktemp("mosquitto_cli_tls"), extra_config="\n".join((
        tls_listener(ports["tls"], certs, "server"),
        tls_listener(ports["mtls"], certs, "server", mtls=True),
        tls_listener(ports["wrongname"], certs, "wrongname"))))
    b.start()
    home = tmp_path_factory.mktemp("node")
    node = NodeProc("cpython", b, home, FAST, DEVICE)       # on the plain listener
    try:
        node.wait_log("connected to")
        yield {"broker": b, "node": node, "certs": certs, "other": other,
               "url": {k: "mqtts://127.0.0.1:%d" % p for k, p in ports.items()}}
    finally:
        node.kill()
        b.stop()


def _file(tls, name, which="certs"):
    return os.path.join(tls[which], name)


def _client(tls, which="certs"):
    return ["--cert", _file(tls, "client.pem", which), "--key", _file(tls, "client.key", which)]


def _ping(tls, listener, *options, **kw):
    return fieldnode("cmd", DEVICE, "ping", "--url", tls["url"][listener], *options, **kw)


def _one_line(r):
    assert r.stderr.endswith("\n") and len(r.stderr.splitlines()) == 1, r.stderr
    return r.stderr


def test_cmd_and_monitor_over_mqtts_with_cafile(tls):
    r = _ping(tls, "tls", "--cafile", _file(tls, "ca.pem"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["msg"] == "pong" and r.stderr == ""
    for ca in ("ca.pem", "ca.der"):     # PEM or DER
        r = fieldnode("monitor", "--url", tls["url"]["tls"], "--cafile", _file(tls, ca),
                      "--device", DEVICE, "--json", "--count", 1, "--duration", 30)
        assert r.returncode == 0, r.stderr
        rec = json.loads(r.stdout)
        assert (rec["kind"], rec["payload"], rec["retained"]) == ("status", "online", True)
        assert r.stderr == "monitor: fieldnode/v1/%s/# on %s (Ctrl-C to stop)\n" % (
            DEVICE, tls["url"]["tls"])


def test_a_der_cafile_holding_the_pem_marker_is_read_as_der(tls, tmp_path):
    """PEM is a line that starts with -----BEGIN; a DER certificate whose subject
    holds those bytes is still DER. It loads; the broker's certificate is not
    signed by it, so the handshake is refused (exit 1), not the file (exit 2)."""
    import subprocess
    for cmd in (["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", "odd.key"],
                ["req", "-x509", "-new", "-key", "odd.key", "-days", "30",
                 "-subj", "/CN=CA -----BEGIN test", "-outform", "DER", "-out", "odd.der"]):
        subprocess.run(["openssl"] + cmd, cwd=tmp_path, check=True, capture_output=True)
    assert b"-----BEGIN" in (tmp_path / "odd.der").read_bytes()
    r = _ping(tls, "tls", "--cafile", str(tmp_path / "odd.der"), "--timeout", 30)
    assert r.returncode == 1, r.stderr
    assert "the broker's certificate was refused" in _one_line(r), r.stderr


def test_mutual_tls_with_cert_and_key(tls):
    r = _ping(tls, "mtls", "--cafile", _file(tls, "ca.pem"), *_client(tls))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["msg"] == "pong"
    r = fieldnode("monitor", "--url", tls["url"]["mtls"], "--cafile", _file(tls, "ca.pem"),
                  *_client(tls), "--device", DEVICE, "--json", "--count", 1, "--duration", 30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["payload"] == "online"
    # (the listener requires a client certificate: without one, see the next test)


def test_missing_or_refused_client_certificate_is_named(tls):
    """Mosquitto refuses after the client's side of the TLS 1.3 handshake is done: with
    an alert ("certificate required", "unknown ca") or, when our CONNECT crossed its
    close, without one; either way the message names the client certificate."""
    t0 = time.monotonic()
    r = _ping(tls, "mtls", "--cafile", _file(tls, "ca.pem"), "--timeout", 30)
    assert r.returncode == 1 and time.monotonic() - t0 < QUICK
    assert _one_line(r) in (
        "fieldnode cmd: TLS: the broker requires a client certificate (give one with --cert "
        "and --key)\n",
        "fieldnode cmd: TLS: the broker closed the connection after the handshake, before "
        "CONNACK: it may require a client certificate (give one with --cert and --key)\n")
    # a client certificate from another CA
    t0 = time.monotonic()
    r = _ping(tls, "mtls", "--cafile", _file(tls, "ca.pem"), *_client(tls, "other"),
              "--timeout", 30)
    assert r.returncode == 1 and time.monotonic() - t0 < QUICK
    cert = _file(tls, "client.pem", "other")
    assert _one_line(r) in (
        "fieldnode cmd: TLS: the broker refused the client certificate --cert %s: tlsv1 "
        "alert unknown ca\n" % cert,
        "fieldnode cmd: TLS: the broker closed the connection after the handshake, before "
        "CONNACK: it may refuse the client certificate --cert %s (is it signed by a CA the "
        "broker trusts?)\n" % cert)


@pytest.mark.parametrize("argv", [["cmd", DEVICE, "ping", "--timeout", 30],
                                  ["monitor", "--duration", 30]])
def test_wrong_ca_is_named_at_once(tls, argv):
    """Was `no broker at ...: [SSL: CERTIFICATE_VERIFY_FAILED] ...`, or, from the network
    thread, `no CONNACK within 5s` whatever --timeout said."""
    url = tls["url"]["tls"]
    rogue = _file(tls, "rogue_ca.pem")      # another CA, same name
    t0 = time.monotonic()
    r = fieldnode(*argv, "--url", url, "--cafile", rogue)
    assert r.returncode == 1 and time.monotonic() - t0 < QUICK
    why = ("fieldnode %s: TLS: the broker's certificate was refused: certificate verify "
           "failed: " % argv[0])
    assert _one_line(r).startswith(why)
    assert r.stderr.endswith("(the CAs of --cafile %s did not sign it)\n" % rogue)
    assert r.stdout == ""
    # the system's CAs (here $SSL_CERT_FILE: the other CA): the hint names --cafile
    r = fieldnode(*argv, "--url", url, env={"SSL_CERT_FILE": _file(tls, "ca.pem", "other")})
    assert r.returncode == 1
    assert _one_line(r).startswith(why) and r.stderr.endswith(" (give its CA with --cafile)\n")


def test_wrong_host_name_and_insecure(tls):
    ca = _file(tls, "ca.pem")
    r = _ping(tls, "wrongname", "--cafile", ca)
    assert r.returncode == 1
    assert _one_line(r) == (
        "fieldnode cmd: TLS: the broker's certificate was refused: certificate verify failed: "
        "IP address mismatch, certificate is not valid for '127.0.0.1'. (use a host name the "
        "certificate was made for)\n")
    # --insecure, as mosquitto_sub's: the name goes unchecked, and a warning says so
    r = _ping(tls, "wrongname", "--cafile", ca, "--insecure")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["msg"] == "pong"
    assert r.stderr == ("fieldnode cmd: warning: --insecure: the broker's certificate is not "
                        "checked against the host name 127.0.0.1: the broker's identity is NOT "
                        "verified\n")
    # but the certificate must still come from a CA we trust
    r = _ping(tls, "wrongname", "--cafile", _file(tls, "rogue_ca.pem"), "--insecure")
    assert r.returncode == 1
    assert r.stderr.splitlines()[1].startswith(
        "fieldnode cmd: TLS: the broker's certificate was refused: certificate verify failed:")


@pytest.fixture
def blackhole():
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    yield hole.getsockname()[1]
    hole.close()


@pytest.mark.parametrize("scheme, why", [("mqtts", "no answer within 1s"),
                                         ("mqtt", "no CONNACK within 1s")])
def test_timeout_bounds_the_connect(tls, blackhole, scheme, why):
    """Was a fixed 5 s wait for the CONNACK, --timeout or not."""
    url = "%s://127.0.0.1:%d" % (scheme, blackhole)
    tls_options = ["--cafile", _file(tls, "ca.pem")] if scheme == "mqtts" else []
    r = fieldnode("cmd", DEVICE, "ping", "--timeout", 1, "--url", url, *tls_options)
    # the wait that ended is the 1 s asked for (the text names it); no wall-clock bound:
    # the CLI's own start-up takes seconds on a loaded machine
    assert r.returncode == 1
    assert r.stderr == "fieldnode cmd: no broker at %s: %s\n" % (url, why)


def test_plain_url_to_a_tls_port(tls):
    url = tls["url"]["tls"].replace("mqtts:", "mqtt:")
    t0 = time.monotonic()
    r = fieldnode("cmd", DEVICE, "ping", "--timeout", 30, "--url", url)
    assert r.returncode == 1 and time.monotonic() - t0 < QUICK
    assert r.stderr == ("fieldnode cmd: no broker at %s: the connection was closed before "
                        "CONNACK (a TLS port? then mqtts://)\n" % url)


def test_tls_url_to_a_plain_port(tls):
    url = "mqtts://127.0.0.1:%d" % tls["broker"].port
    r = fieldnode("cmd", DEVICE, "ping", "--url", url, "--cafile", _file(tls, "ca.pem"))
    assert r.returncode == 1
    assert _one_line(r).startswith("fieldnode cmd: TLS: ")


@pytest.mark.parametrize("option, name, message", [
    ("--cafile", "client.key", "--cafile {}: no CA certificate in it (PEM or DER): no "
                               "certificate or crl found"),
    ("--cert", "client.key", "--cert {}: not a PEM certificate"),
    ("--key", "client.pem", "--key {}: not a PEM private key"),
    ("--key", "server.key", "--key {} is not the private key of --cert {cert}"),
    ("--key", "encrypted.key", "--key {} is encrypted, and there is no terminal to ask its "
                               "pass phrase on"),
])
def test_wrong_files_exit_2_before_connecting(tls, option, name, message):
    path = _file(tls, name)
    if name == "encrypted.key" and not os.path.exists(path):
        import subprocess
        subprocess.run(["openssl", "pkey", "-in", _file(tls, "client.key"), "-aes256",
                        "-passout", "pass:fieldnode", "-out", path], check=True)
    options = {"--cafile": _file(tls, "ca.pem"), "--cert": _file(tls, "client.pem"),
               "--key": _file(tls, "client.key")}
    options[option] = path
    argv = [a for o, v in options.items() for a in (o, v)]
    # a port nobody listens on: refused before any connection is tried
    url = "mqtts://127.0.0.1:%d" % free_port()
    for sub in (["cmd", DEVICE, "ping"], ["monitor"]):
        r = fieldnode(*sub, "--url", url, *argv, stdin=open(os.devnull))
        assert r.returncode == 2
        assert r.stderr == "fieldnode %s: %s\n" % (sub[0], message.format(
            path, cert=options["--cert"]))


def _as_nobody():
    """The argv prefix that runs a command as user nobody (65534) when the tests run as
    root, who reads any file ([] when not root); None when there is no tool for it."""
    if os.geteuid():
        return []
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


def test_unreadable_file_exits_2():
    who = _as_nobody()
    if who is None:
        pytest.skip("root reads any file, and neither setpriv nor runuser is here")
    # a folder of our own that the other user may enter (pytest's tmp_path is root's, 0700)
    folder = tempfile.mkdtemp(prefix="fieldnode-unreadable-")
    try:
        os.chmod(folder, 0o755)
        ca = os.path.join(folder, "ca.pem")
        with open(ca, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n")

        def cli(*args):
            return subprocess.run(who + [tool("fieldnode")] + list(args), capture_output=True,
                                  text=True, timeout=120)

        probe = cli("--help")
        if probe.returncode:  # (say, a virtualenv in root's home, closed to others)
            pytest.skip("the other user cannot run the CLI here: " + probe.stderr.strip())

        def monitor():
            return cli("monitor", "--url", "mqtts://127.0.0.1:1", "--cafile", ca)

        # the same file readable: that user reads it (the folder too) and finds no
        # certificate in it; so below, only the file's mode keeps it out
        os.chmod(ca, 0o644)
        r = monitor()
        assert r.returncode == 2 and r.stderr.startswith(
            "fieldnode monitor: --cafile %s: no CA certificate in it" % ca), r.stderr
        os.chmod(ca, 0)
        r = monitor()
        assert r.returncode == 2
        assert r.stderr == ("fieldnode monitor: --cafile %s: not readable (permission "
                            "denied)\n" % ca)
    finally:
        shutil.rmtree(folder)


def test_empty_or_huge_cafile_exits_2(tls, tmp_path):
    """An empty --cafile trusted every CA of the system (ssl's cadata=b"" loads the
    defaults): a broker the file does not vouch for was accepted. A huge one (say
    /dev/zero) was read whole into memory."""
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"\0" * (2 << 20))
    # the system's CAs here: the broker's own CA, so the old code connected
    env = {"SSL_CERT_FILE": _file(tls, "ca.pem")}
    for path, why in ((empty, "no CA certificate in it (the file is empty)"),
                      (huge, "over 1048576 bytes: not a certificate or key file")):
        r = fieldnode("monitor", "--url", tls["url"]["tls"], "--cafile", path,
                      "--duration", "1", env=env)
        assert (r.returncode, r.stderr) == (2, "fieldnode monitor: --cafile %s: %s\n"
                                            % (path, why)), r.stdout
