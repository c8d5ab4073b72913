"""A fake MQTT v5 broker for the CLI's tests of what Mosquitto will not do: refuse a
subscription (Mosquitto 2.0 grants one its ACL denies, then filters what it sends).

    b = FakeBroker(suback=0x87)     # every filter of every SUBSCRIBE: Not authorized
    ...                             # point monitor or cmd at b.url
    b.logins                        # [(user name, password)] of each CONNECT, bytes or None
    b.close()
"""

import contextlib
import socket
import threading


class FakeBroker:
    """Just enough of a broker for monitor and cmd to connect and subscribe: it keeps each
    CONNECT's user name and password in `logins` and answers every filter of a SUBSCRIBE
    with the reason code `suback`; publishes go nowhere."""

    def __init__(self, suback):
        self.suback, self.logins = suback, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = "mqtt://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=self._serve, args=(self.sock.accept()[0],),
                                 daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")

        def varint(data, i=0):
            n = shift = 0
            while True:
                b = data[i] if data is not None else f.read(1)[0]
                i, n, shift = i + 1, n | (b & 127) << shift, shift + 7
                if b < 128:
                    return n, i

        def text(body, i):
            n = int.from_bytes(body[i:i + 2], "big")
            return body[i + 2:i + 2 + n], i + 2 + n

        with conn, contextlib.suppress(OSError, IndexError):
            while True:
                kind = f.read(1)[0] >> 4
                body = f.read(varint(None)[0])
                if kind == 1:       # CONNECT: properties, client id, user, password (no will)
                    flags, (n, i) = body[7], varint(body, 10)
                    i = text(body, i + n)[1]
                    user = password = None
                    if flags & 0x80:
                        user, i = text(body, i)
                    if flags & 0x40:
                        password, i = text(body, i)
                    self.logins.append((user, password))
                    conn.sendall(bytes([0x20, 3, 0, 0, 0]))
                elif kind == 8:     # SUBSCRIBE: a code per filter (2-byte length, options)
                    n, i = varint(body, 2)
                    i, count = i + n, 0
                    while i < len(body):
                        i, count = text(body, i)[1] + 1, count + 1
                    conn.sendall(bytes([0x90, 3 + count]) + body[:2] + bytes([0] + [self.suback]
                                                                              * count))
                elif kind == 12:    # PINGREQ
                    conn.sendall(b"\xd0\x00")
                elif kind == 14:    # DISCONNECT
                    return

    def close(self):
        self.sock.close()

