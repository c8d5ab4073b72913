"""Enhanced authentication (spec 4.12) and re-authentication through the asyncio
client, on both runtimes, against a scripted v5 server (_auth_server)."""

import pytest

from runtimes import HOSTED, run

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)


def _auth_server(record):
    # A scripted v5 server speaking enhanced authentication with method "demo":
    # CONNECT (with the method and data "hello") -> AUTH 0x18 "challenge" -> the
    # client's AUTH 0x18 -> CONNACK; then AUTH 0x19 (re-authentication) -> AUTH 0x00;
    # PUBLISH QoS 1 -> PUBACK; DISCONNECT. What came is kept in `record` (type, bytes).
    import socket
    import threading

    def method_props(data=None):
        p = b"\x15\x00\x04demo"
        if data is not None:
            p += b"\x16" + len(data).to_bytes(2, "big") + data
        return bytes([len(p)]) + p

    def read(s):
        h = s.recv(1)
        if not h:
            return None
        n = mult = 0
        while True:
            b = s.recv(1)[0]
            n += (b & 0x7F) << mult
            mult += 7
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        record.append((h[0] >> 4, body))
        return h[0] >> 4, body

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        s, _ = srv.accept()
        s.settimeout(10)
        try:
            read(s)  # CONNECT
            body = b"\x18" + method_props(b"challenge")
            s.sendall(bytes([0xF0, len(body)]) + body)
            read(s)  # AUTH 0x18 response
            body = b"\x00\x00" + method_props()
            s.sendall(bytes([0x20, len(body)]) + body)
            while True:
                p = read(s)
                if p is None or p[0] == 14:  # closed, DISCONNECT
                    return
                if p[0] == 15:  # AUTH 0x19: re-authentication, accepted
                    body = b"\x00" + method_props()
                    s.sendall(bytes([0xF0, len(body)]) + body)
                elif p[0] == 3:  # PUBLISH QoS 1 (topic "auth/t"): PUBACK
                    s.sendall(b"\x40\x02" + p[1][8:10])
        except OSError:
            pass
        finally:
            s.close()
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_enhanced_authentication_and_reauthentication_through_the_client(runtime):
    got = []
    port = _auth_server(got)
    rec = run(runtime, "client_auth.py", port, timeout=30).record(step="done")
    assert rec["lone"] == "ValueError" and rec["challenges"] == ["challenge"], rec
    assert rec["rc"] == 0 and rec["connected"] is True, rec
    kinds = [k for k, _ in got]
    assert kinds[:4] == [1, 15, 15, 3], kinds  # CONNECT, AUTH, AUTH 0x19, PUBLISH
    assert b"\x15\x00\x04demo" in got[0][1] and b"hello" in got[0][1]  # [MQTT-4.12.0-5]
    assert got[1][1][0] == 0x18 and b"response" in got[1][1]
    assert got[2][1][0] == 0x19 and b"hello" in got[2][1]  # start() again
