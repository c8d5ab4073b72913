"""Issue #6, part 2: how the supervisor comes back (both runtimes, real
Mosquitto): bad credentials stop with their reason code instead of a retry
storm, a Server Reference is followed, and 20 clients of one restarted broker
reconnect spread over the jitter window.  Measured numbers are printed as
`RESILIENCE {...}` lines (pytest -s)."""

import subprocess
import threading

from resilience_harness import Proc, report
from runtimes import run


class RefusingBroker:
    """A minimal TCP server that answers every CONNECT with CONNACK `code` (and
    a Server Reference) and closes: for what the real broker does not send."""

    def __init__(self, code, reference=None):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        props = b""
        if reference:  # Server Reference property (0x1C), a UTF-8 string
            ref = reference.encode()
            props = bytes([0x1C, len(ref) >> 8, len(ref) & 0xFF]) + ref
        # CONNACK [MQTT-3.2]: flags 0, reason code, properties (length < 128)
        self.connack = bytes([0x20, 3 + len(props), 0, code, len(props)]) + props
        self.connects = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(1024)  # the CONNECT (small: one read)
                    self.connects += 1
                    conn.sendall(self.connack)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def check_auth(res, code, name):
    assert res.record(fatal="fatal")["classes"] == ["fatal"] * 6
    stop = res.record(phase="stop")
    assert stop["stopped"] and stop["code"] == code, stop
    assert "0x%02X" % code in stop["reason"] and name in stop["reason"], stop
    assert stop["attempts"] == 1, stop
    slow = res.record(phase="long")
    # 2 s with fatal_backoff_ms 500: a handful of attempts, not base_ms 20's storm
    assert not slow["stopped"] and 2 <= slow["attempts"] <= 6, slow
    return stop, slow


def test_bad_credentials_no_retry_storm(runtime, broker_factory, tmp_path):
    # Mosquitto 2.0 answers a wrong password on MQTT v5 with 0x87 Not authorized
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "node", "secret"], check=True)
    b = broker_factory(allow_anonymous=False, extra_config="password_file %s" % pw)
    res = run(runtime, "resilience_auth.py", b.port, runtime, timeout=60)
    stop, slow = check_auth(res, 0x87, "Not authorized")
    # ... so 0x86 Bad User Name or Password comes from a server that sends it
    fake = RefusingBroker(0x86)
    try:
        res = run(runtime, "resilience_auth.py", fake.port, runtime, timeout=60)
    finally:
        fake.close()
    stop86, slow86 = check_auth(res, 0x86, "Bad User Name or Password")
    report(test="bad_credentials", runtime=runtime, mosquitto=stop["reason"],
           fake=stop86["reason"], attempts_stop=stop86["attempts"],
           attempts_long_2s=[slow["attempts"], slow86["attempts"]])


FLEET, FLEET_BASE_MS = 20, 2000


def test_fleet_reconnects_spread_by_jitter(runtime, broker_factory):
    b = broker_factory()
    p = Proc(runtime, "resilience_fleet.py", b.port, runtime, FLEET, FLEET_BASE_MS)
    try:
        p.wait(lambda r: r.get("step") == "ready", 30)
        b.restart()
        _, done, _ = p.wait(lambda r: r.get("step") == "done", 45)
        p.finish()
    finally:
        p.kill()
    assert None not in done["back"], done
    t0 = min(done["down"])
    back = sorted(x - t0 for x in done["back"])
    spread = back[-1] - back[0]
    # the most reconnects within any tenth of the window
    win = FLEET_BASE_MS // 10
    crowd = max(sum(1 for y in back if x <= y < x + win) for x in back)
    report(test="fleet", runtime=runtime, clients=FLEET, base_ms=FLEET_BASE_MS,
           reconnect_ms=back, spread_ms=spread, max_in_200ms=crowd,
           down_spread_ms=max(done["down"]) - t0)
    # uniform over [0, 2000] ms: 20 draws span ~1800 ms; lock step would be ~0
    assert spread >= FLEET_BASE_MS // 2, back
    assert crowd <= FLEET // 2, back


def test_server_reference_followed(runtime, broker):
    fake = RefusingBroker(0x9C, "127.0.0.1:%d" % broker.port)
    try:
        res = run(runtime, "resilience_redirect.py", fake.port, runtime, timeout=60)
    finally:
        fake.close()
    r = res.records[0]
    assert r["url"] == "mqtt://127.0.0.1:%d" % broker.port, r
    assert r["rc"] in (0, 0x10) and r["got"] == "there", r
    assert r["stats"]["failures"] == {"0x9C": 1} and fake.connects == 1, r
    report(test="redirect", runtime=runtime, url=r["url"], failures=r["stats"]["failures"])
