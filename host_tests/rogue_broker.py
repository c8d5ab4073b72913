"""A rogue MQTT "broker" for hostile-server tests: a TCP server (one thread per
connection) that reads the client's CONNECT and then misbehaves in one way.

    rogue = RogueBroker("garbage")       # listening on 127.0.0.1:rogue.port
    ...                                  # point a client at rogue.url
    rogue.conns                          # [Conn: accepted_at, received bytes]
    rogue.close()

Modes (what follows the CONNECT):

- ``garbage``: an HTTP error page instead of CONNACK;
- ``truncated``: the first 4 bytes of a 5-byte CONNACK, then close at once;
- ``bad_props``: a CONNACK carrying a Payload Format Indicator (not allowed in
  CONNACK) and Receive Maximum 0 (spec 3.2.2.3.3);
- ``huge``: a CONNACK header announcing a 256 MB Remaining Length
  (0xFF 0xFF 0xFF 0x7F), then bytes for as long as the client reads;
- ``publish_first``: a PUBLISH before any CONNACK;
- ``pingresp_flood``: PINGRESPs without end instead of CONNACK;
- ``slowloris``: a valid CONNACK, one byte every 0.5 s;
- ``connack_then_flood``: a valid CONNACK, then PINGRESPs without end (the
  client must keep working and not grow);
- ``disconnect_reset``: a valid CONNACK, 0.2 s later a DISCONNECT 0x97 Quota
  exceeded, then a close with a reset (SO_LINGER 0), as a broker that drops the
  connection right after saying why; not in MODES (test_rogue_broker runs those);
- ``deaf``: a valid CONNACK, then it only reads, and never closes first (for 10 s):
  a server that ignores the client's DISCONNECT; not in MODES either;
- ``connack_close``: a valid CONNACK, then a close at once (a session taken over
  again and again, an ACL that drops the client): a link that ends before the client
  sends anything; not in MODES either;
- ``redirect``: a valid CONNACK, then DISCONNECT 0x9C Use another server with the
  Server Reference ``rogue.ref`` (set it after making the broker: two of them can
  send a client to each other); not in MODES either.

What the client sent after its CONNECT (a DISCONNECT with a reason code) is kept
in ``Conn.rx``.
"""

import select
import socket
import struct
import threading
import time

CONNACK = b"\x20\x03\x00\x00\x00"
_SEND = {
    "garbage": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "truncated": CONNACK[:4],
    # properties: 0x01 Payload Format Indicator 1, 0x21 Receive Maximum 0
    "bad_props": b"\x20\x08\x00\x00\x05\x01\x01\x21\x00\x00",
    "publish_first": b"\x30\x06\x00\x01a\x00hi",
}
MODES = ("garbage", "truncated", "bad_props", "huge", "publish_first", "pingresp_flood",
         "slowloris", "connack_then_flood")
DISCONNECT_QUOTA = b"\xe0\x02\x97\x00"  # DISCONNECT 0x97 Quota exceeded, no properties


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.accepted_at = time.monotonic()
        self.rx = bytearray()  # bytes from the client after the first read
        self.sent = 0
        self.closed_at = None  # when the client's close was read


class RogueBroker:
    def __init__(self, mode, flood_s=3.0):
        if mode not in MODES + ("disconnect_reset", "deaf", "connack_close", "redirect"):
            raise ValueError(mode)
        self.mode = mode
        self.flood_s = flood_s
        self.ref = ""  # the Server Reference of "redirect"
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "mqtt://127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            c = Conn(s)
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        s = c.sock
        try:
            s.settimeout(5)
            s.recv(4096)  # the CONNECT (small: one read)
            self._misbehave(c)
            if self.mode == "truncated":
                return
            if self.mode == "connack_close":
                return  # closed by finally
            if self.mode == "disconnect_reset":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return  # closed by finally: a reset, the DISCONNECT still in flight
            s.settimeout(0.5)  # what the client answers (a DISCONNECT), until it closes
            end = time.monotonic() + (10 if self.mode == "deaf" else 2)
            while time.monotonic() < end:
                try:
                    d = s.recv(4096)
                except socket.timeout:
                    continue
                if not d:
                    c.closed_at = time.monotonic()
                    break
                c.rx += d
        except OSError:
            pass
        finally:
            s.close()

    def _send(self, c, data):
        c.sock.sendall(data)
        c.sent += len(data)

    def _misbehave(self, c):
        m = self.mode
        if m in _SEND:
            self._send(c, _SEND[m])
        elif m == "huge":
            self._send(c, b"\x20\xff\xff\xff\x7f")
            self._flood(c, b"\x00" * 4096)
        elif m == "pingresp_flood":
            self._flood(c, b"\xd0\x00" * 2048)
        elif m == "slowloris":
            for b in CONNACK:
                self._send(c, bytes([b]))
                time.sleep(0.5)
        elif m in ("deaf", "connack_close"):
            self._send(c, CONNACK)
        elif m == "redirect":
            ref = self.ref.encode()
            props = b"\x1c" + struct.pack(">H", len(ref)) + ref
            self._send(c, CONNACK + bytes([0xE0, 2 + len(props), 0x9C, len(props)]) + props)
        elif m == "disconnect_reset":
            self._send(c, CONNACK)
            time.sleep(0.2)
            self._send(c, DISCONNECT_QUOTA)
        elif m == "connack_then_flood":
            self._send(c, CONNACK)
            self._flood(c, b"\xd0\x00" * 2048)

    def _flood(self, c, chunk):
        # send until the client closes, for at most flood_s seconds, keeping
        # what the client sends meanwhile (its DISCONNECT)
        end = time.monotonic() + self.flood_s
        c.sock.settimeout(self.flood_s)  # a slow reader slows the flood down
        while time.monotonic() < end and not self._closing:
            if select.select([c.sock], [], [], 0)[0]:
                d = c.sock.recv(4096)
                if not d:
                    return
                c.rx += d
            self._send(c, chunk)

    def close(self):
        self._closing = True
        self.sock.close()
