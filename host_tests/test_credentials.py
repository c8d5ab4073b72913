"""Credentials and authorization against a real Mosquitto with a password file
and an ACL, on both runtimes.  A known secret is used throughout, and everything
the client printed (stdout, stderr) is scanned for it."""

import subprocess

import pytest

from runtimes import run

SECRET = "s\u00e9cret-\u2713-4242"  # non-ASCII: a str password goes out as UTF-8
ACL = """user node
topic readwrite allowed/#
topic read readonly/#
"""


_DYNSEC = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
# the same rules for the dynamic security plugin (which also checks SUBSCRIBE)
_DYNSEC_RULES = (("createClient", "node", "-p", SECRET), ("createRole", "r"),
                 ("addRoleACL", "r", "subscribePattern", "allowed/#", "allow"),
                 ("addRoleACL", "r", "publishClientSend", "allowed/#", "allow"),
                 ("addRoleACL", "r", "subscribePattern", "readonly/#", "allow"),
                 ("addClientRole", "node", "r"))


@pytest.fixture(params=("acl_file", "dynsec"))
def acl_broker(request, broker_factory, tmp_path):
    """Mosquitto with user node / SECRET allowed to publish and subscribe under
    allowed/#, subscribe only under readonly/#: from a password file and an
    acl_file, or from the dynamic security plugin."""
    if request.param == "acl_file":
        pw = tmp_path / "passwd"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "node", SECRET], check=True)
        acl = tmp_path / "acl"
        acl.write_text(ACL)
        b = broker_factory(allow_anonymous=False,
                           extra_config="password_file %s\nacl_file %s" % (pw, acl))
    else:
        conf = tmp_path / "dynsec.json"
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(conf), "admin", "adminpw"],
                       check=True, capture_output=True)
        b = broker_factory(allow_anonymous=False, extra_config="plugin %s\n"
                           "plugin_opt_config_file %s" % (_DYNSEC, conf))
        for rule in _DYNSEC_RULES:
            subprocess.run(["mosquitto_ctrl", "-h", b.host, "-p", str(b.port), "-u", "admin",
                            "-P", "adminpw", "dynsec"] + list(rule), check=True,
                           capture_output=True)
    b.acl = request.param
    return b


def test_credentials_and_acl(runtime, acl_broker):
    res = run(runtime, "creds_acl.py", acl_broker.port, SECRET, timeout=60)
    assert SECRET not in res.stdout and SECRET not in res.stderr
    assert SECRET.encode("utf-8").hex() not in res.stdout
    types = res.record(step="types")["errors"]
    assert all(types) and all("must" in e for e in types), types
    rec = res.record(step="str_password")
    assert rec["connected"] and not rec["tls_loaded"]  # a plain client never loads TLS
    acl = res.record(step="acl")
    # Mosquitto 2.0.11 to a v5 client: PUBACK/PUBREC 0x87 for a denied QoS 1/2
    # publish, nothing for QoS 0 (dropped silently).  Subscribing: the acl_file
    # grants every filter (SUBACK 0x01) and filters at delivery; the dynamic
    # security plugin answers SUBACK 0x87 for a denied filter.
    assert acl["allowed_rc"] == 0x10
    assert acl["denied_pub_q0"] is None
    assert acl["denied_pub_q1"] == [0x87, "PUBACK 0x87 Not authorized"]
    assert acl["denied_pub_q2"] == [0x87, "PUBREC 0x87 Not authorized"]
    if acl_broker.acl == "acl_file":
        assert acl["denied_sub"] == 1 and acl["mixed_sub"] == [1, 1, 1]
    else:
        assert acl["denied_sub"] == [0x87, "SUBACK 0x87 Not authorized"], acl
        assert acl["mixed_sub"] == [1, 0x87, 1]
    assert acl["readonly_pub"] == [0x87, "PUBACK 0x87 Not authorized"]
    assert acl["still_connected"] and acl["after_rc"] == 0
    wrong = res.record(step="wrong")
    assert wrong["code"] == 0x87 and wrong["leaked"] is False, wrong
    cb = res.record(step="callback")
    assert cb["calls_first_up"] == 2 and cb["calls"] == 3, cb  # stale token, new one, reconnect
    assert cb["failures"] == {"0x87": 1} and cb["leaked"] is False, cb
    assert "callback" in res.record(step="bad_callback")["error"]
