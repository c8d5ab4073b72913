"""Client(password=...) accepts str as well as bytes (a real password file)."""

import subprocess

from runtimes import run


def test_a_str_password_logs_in_like_its_utf8_bytes(runtime, broker_factory, tmp_path):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "node", "r1ght-ünï"], check=True)
    b = broker_factory(allow_anonymous=False, extra_config="password_file %s" % pw)
    res = run(runtime, "client_password_str.py", b.port)
    assert res.record(type="str")["connected"] is True, res.stdout
    assert res.record(type="bytes")["connected"] is True, res.stdout
