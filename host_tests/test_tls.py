"""TLS (mqtts://) against a real Mosquitto with one TLS listener per certificate
case, certificates made by openssl (host_tests/certs.py), RSA and EC, on both
runtimes.  The longest event-loop stall seen during each handshake is printed
("TLS {...}" lines, `pytest -s`)."""

import json
import socket
import ssl
import threading

import pytest

from broker import Broker, free_port
from certs import make_certs
from fault_proxy import FaultProxy
from resilience_harness import Proc
from runtimes import run

# listener name -> (key kind, certificate, require a client certificate)
_LISTENERS = {
    "rsa": ("rsa", "server", False),
    "ec": ("ec", "server", False),
    "rogue": ("rsa", "rogue", False),
    "wrongname": ("rsa", "wrongname", False),
    "expired": ("rsa", "expired", False),
    "future": ("rsa", "future", False),
    "mtls": ("rsa", "server", True),
    "mtls_ec": ("ec", "server", True),
}


def tls_listener(port, d, cert, mtls=False):
    """Mosquitto config lines of a TLS listener on 127.0.0.1:port."""
    lines = ["listener %d 127.0.0.1" % port, "cafile %s/ca.pem" % d,
             "certfile %s/%s.pem" % (d, cert), "keyfile %s/%s.key" % (d, cert)]
    if mtls:
        lines.append("require_certificate true")
    return "\n".join(lines)


def odd_tls_server(d, mode):
    """(socket, port) of a TLS server on 127.0.0.1 that misbehaves on every connection:
    "silent" completes the handshake, then never answers (nor closes); "midclose"
    reads the ClientHello and closes (a TLS proxy or balancer that drops the link)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain("%s/server.pem" % d, "%s/server.key" % d)
    held = []

    def serve():
        while True:
            try:
                s, _ = srv.accept()
            except OSError:
                return
            try:
                s.settimeout(5)
                if mode == "midclose":
                    s.recv(100)
                    s.close()
                else:
                    held.append(ctx.wrap_socket(s, server_side=True))
            except (OSError, ssl.SSLError):
                s.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.fixture(scope="module")
def tls_setup(tmp_path_factory):
    dirs = {k: str(tmp_path_factory.mktemp("certs_" + k)) for k in ("rsa", "ec")}
    for k, d in dirs.items():
        make_certs(d, k)
    ports = {name: free_port() for name in _LISTENERS}
    extra = "\n".join(tls_listener(ports[n], dirs[k], cert, mtls)
                      for n, (k, cert, mtls) in _LISTENERS.items())
    b = Broker(tmp_path_factory.mktemp("mosquitto_tls"), extra_config=extra)
    b.start()
    hole = socket.socket()  # accepts TCP (kernel backlog), never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    silent, silent_port = odd_tls_server(dirs["rsa"], "silent")
    midclose, midclose_port = odd_tls_server(dirs["rsa"], "midclose")
    cfg = {"ports": ports, "rsa": dirs["rsa"], "ec": dirs["ec"], "plain": b.port,
           "blackhole": hole.getsockname()[1], "silent": silent_port,
           "midclose": midclose_port}
    path = tmp_path_factory.mktemp("tls_cfg") / "tls.json"
    path.write_text(json.dumps(cfg))
    yield {"broker": b, "cfg": cfg, "path": str(path)}
    hole.close()
    silent.close()
    midclose.close()
    b.stop()


def test_tls_cases(runtime, tls_setup):
    res = run(runtime, "tls_client.py", tls_setup["path"], timeout=120)
    cases = {r["case"]: r for r in res.records if r.get("case") != "bad_option"}
    for name in ("rsa_ok", "ec_ok", "ca_der", "localhost", "mtls_ok", "mtls_der_bytes",
                 "mtls_ec", "insecure", "mtls_insecure", "ca_text_around", "mtls_one_file"):
        assert cases[name]["ok"] and cases[name]["error"] is None, cases[name]
    for name in ("rsa_ok", "ec_ok", "mtls_ok"):
        assert cases[name]["rc"] in (0, 0x10) and cases[name]["got"] == ["over tls"]
    refused = {
        "wrong_ca": ("not correctly signed", "unable to get local issuer", "self-signed"),
        "rogue_cert": ("not correctly signed", "unable to get local issuer", "self-signed"),
        "wrong_name": ("does not match", "mismatch"),
        "wrong_server_hostname": ("does not match", "mismatch"),
        "expired": ("expired",),
        "not_yet_valid": ("future", "not yet valid"),
    }
    for name, why in refused.items():
        r = cases[name]
        assert not r["ok"] and r["type"] == "TLSError", r
        assert r["error"].startswith("TLS: server certificate refused: "), r
        assert any(w in r["error"] for w in why), r
    for name in ("mtls_no_cert", "mtls_rogue_cert", "tls_to_plain_port"):
        r = cases[name]
        assert not r["ok"] and r["type"] == "TLSError" and r["error"].startswith("TLS: "), r
    r = cases["plain_to_tls_port"]  # Mosquitto drops the non-TLS bytes
    assert not r["ok"] and r["type"] in ("MQTTError", "OSError", "ConnectionResetError"), r
    assert cases["tls_opts_plain_url"]["type"] == "ValueError"
    assert "mqtt://" in cases["tls_opts_plain_url"]["error"]
    assert "NOT verified" in res.stdout  # insecure mode says so
    hole = cases["blackhole"]  # bounded by connect_timeout_ms (700)
    assert hole["type"] in ("TimeoutError", "CancelledError") and hole["ms"] < 3000, hole
    # and says which wait ran out: MicroPython shakes hands with the first reads and
    # writes, inside the CONNACK's wait, which named only the CONNACK
    assert hole["error"] == ("no TLS connection within 700 ms" if runtime == "cpython" else
                             "no TLS handshake or CONNACK within 700 ms"), hole
    for name in ("key_client_enc.key", "key_client_enc_legacy.key"):
        r = cases[name]
        assert r["type"] == "TLSError" and "the key is encrypted" in r["error"], r
    r = cases["mtls_pem_text"]  # PEM text as a str: read as the file's text
    assert r["ok"] and r["got"] == ["over tls"], r
    secret = cases["key_text"]["body"]  # a piece of the key: never in an error
    for name in ("key_base64_str", "key_pem_text_bad"):
        r = cases[name]
        assert not r["ok"] and secret not in r["error"] and "BEGIN" not in r["error"], r
    assert cases["key_base64_str"]["type"] == "TLSError", cases["key_base64_str"]
    assert "(a str of " in cases["key_base64_str"]["error"], cases["key_base64_str"]
    assert cases["key_pem_text_bad"]["type"] == "ValueError", cases["key_pem_text_bad"]
    r = cases["ca_bad_file"]
    assert r["type"] == "TLSError" and r["error"].startswith("TLS: tls ca: not a valid"), r
    for name in ("key_empty", "key_garbage", "key_cut"):  # (CPython: IndexError before)
        r = cases[name]
        assert r["type"] == "TLSError" and "not a valid certificate/key" in r["error"], r
    r = cases["refusals_fds"]  # 10 refused handshakes: no descriptor left open
    assert r["before"] is not None and r["after"] <= r["before"], r
    # a server that closes during the handshake is named (CPython's asyncio raised a
    # bare ConnectionResetError: an empty message)
    r = cases["midclose"]
    assert r["type"] == "TLSError" and r["error"].startswith("TLS: handshake failed: "), r
    # 5 links over TLS to a server silent after the handshake, each ended by the
    # CONNACK's timeout: their sockets are closed within seconds (CPython's asyncio
    # waited 30 s for each a close_notify answer)
    r = cases["silent_fds"]
    assert r["types"] == ["TimeoutError"] * 5, r
    assert r["before"] is not None and r["after"] <= r["before"], r
    assert cases["ca_bad_bytes"]["type"] == "ValueError", cases["ca_bad_bytes"]
    assert cases["der_blocks"]["odd"] and cases["der_blocks"]["crlf"], cases["der_blocks"]
    bad = [r for r in res.records if r.get("case") == "bad_option"]
    assert len(bad) == 6 and all(r["error"] for r in bad), bad
    assert not any("BEGIN" in r["error"] for r in bad)
    print("TLS " + json.dumps({"runtime": runtime, "stall_ms": {
        n: cases[n]["stall_ms"] for n in ("rsa_ok", "ec_ok", "mtls_ok", "mtls_ec")},
        "connect_ms": {n: cases[n]["ms"] for n in ("rsa_ok", "ec_ok", "mtls_ok")},
        "blackhole_ms": hole["ms"],
        "errors": {n: cases[n]["error"] for n in list(refused) + ["mtls_no_cert"]}}))


def test_supervisor_reconnects_over_tls(runtime, tls_setup):
    cfg = tls_setup["cfg"]
    proxy = FaultProxy("127.0.0.1", cfg["ports"]["mtls"])
    p = Proc(runtime, "tls_supervisor.py", proxy.port, cfg["rsa"], cfg["ports"]["expired"])
    try:
        p.wait(lambda r: r.get("step") == "up", 30)
        proxy.cut()
        _, back, _ = p.wait(lambda r: r.get("step") == "back", 30)
        _, expired, _ = p.wait(lambda r: r.get("step") == "expired", 30)
        p.finish()
    finally:
        p.kill()
        proxy.close()
    assert back["reconnects"] >= 1 and back["rc"] in (0, 0x10), back
    # 1.5 s with base 100 ms and full jitter: a few refusals, not a storm
    assert 2 <= expired["failures"].get("tls", 0) <= 12, expired
    assert "expired" in expired["reason"], expired


def test_readme_tls_example(runtime, tls_setup):
    cfg = tls_setup["cfg"]
    res = run(runtime, "tls_example.py", "mqtts://localhost:%d" % cfg["ports"]["mtls"], cfg["rsa"])
    assert "published over TLS" in res.stdout, res.stdout
    res = run(runtime, "tls_example.py", "mqtts://127.0.0.1:%d" % cfg["ports"]["expired"],
              cfg["rsa"])
    assert "refused: TLS: server certificate refused:" in res.stdout, res.stdout


def test_a_tls_folder_beside_the_application_is_not_taken_for_the_tls_module(
        runtime, tls_setup, tmp_path):
    """CPython imported `tls` (MicroPython's module name) before `ssl`: a certificate
    folder named tls/ next to the application broke every mqtts:// connect with
    AttributeError: module 'tls' has no attribute 'SSLContext'."""
    import shutil

    from runtimes import SCRIPTS

    app = tmp_path / "app.py"
    shutil.copy(SCRIPTS + "/tls_example.py", app)
    (tmp_path / "tls").mkdir()
    cfg = tls_setup["cfg"]
    res = run(runtime, str(app), "mqtts://localhost:%d" % cfg["ports"]["mtls"], cfg["rsa"])
    assert "published over TLS" in res.stdout, res.stdout + res.stderr
