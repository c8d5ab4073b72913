"""A TCP fault proxy between a client and the broker, for resilience tests.

Runs one background thread in the test process. The test points the client at
``proxy.port`` and steers the link::

    proxy = FaultProxy(broker.host, broker.port)   # listening on 127.0.0.1
    proxy.blackhole()      # stop forwarding both ways, keep sockets open (a dead link)
    proxy.blackhole("down")  # ... only broker -> client ("up": only client -> broker)
    proxy.delay(200)       # forward everything 200 ms late (each direction)
    proxy.pass_through()   # normal forwarding again (what was held back flows)
    proxy.cut()            # RST both sides of every live connection (SO_LINGER 0)
    proxy.cut(conn)        # ... or of one of them
    proxy.disconnect(conn, 0x8E)  # the broker's DISCONNECT with that reason, then FIN
    proxy.drop({4})        # broker -> client packets of these types are dropped (PUBACK)
    proxy.connections()    # live connections: id, bytes_up, bytes_down, ...
    proxy.close()

Modes apply to every connection, live and future: a client that reconnects
while the proxy blackholes gets its TCP handshake (the kernel does that) but
never a CONNACK. ``cut()`` is an event, not a mode: the proxy keeps accepting.
``refuse(True)`` RSTs new connections as soon as they arrive (broker "down").

Byte counts are what each side put on the wire: ``bytes_up`` read from the
client, ``bytes_down`` read from the broker. With ``capture=True`` the bytes
themselves are kept (``up``/``down`` bytearrays), and ``mqtt_packets()`` splits
them into MQTT control packets, so a test can measure the wire size of one
publish. Control calls return once the proxy thread has applied them.

Here: the proxy's control calls (the test thread). Its thread's half is in
fault_proxy_loop.py, one connection in fault_proxy_conn.py, and the packet split
in mqtt_split.py.
"""

import collections
import socket
import threading
import time

from fault_proxy_loop import ProxyThread


class FaultProxy(ProxyThread):
    """TCP proxy 127.0.0.1:port -> upstream_host:upstream_port with fault modes."""

    DIRECTIONS = {"both": ("up", "down"), "up": ("up",), "down": ("down",)}

    def __init__(self, upstream_host, upstream_port, host="127.0.0.1", port=0,
                 capture=False):
        self.upstream = (upstream_host, upstream_port)
        self.capture = capture
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self.held = ()           # directions not forwarded: "up", "down"
        self.delay_ms = 0
        self.refusing = False
        self.dropping = frozenset()  # drop(): packet types not passed to the client
        self._conns = []         # live Connection objects
        self._all = []           # every Connection ever accepted
        self._next_id = 1
        self._lock = threading.Lock()
        self._cmds = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stop = False
        self._error = None
        self._thread = threading.Thread(target=self._loop, name="fault-proxy", daemon=True)
        self._thread.start()

    # ---- control (test thread) ---------------------------------------------------
    @property
    def url(self):
        return "mqtt://%s:%d" % (self.host, self.port)

    def pass_through(self):
        """Forward normally, no delay (data held back by blackhole/delay now flows)."""
        self._do(self._set_mode, (), 0)

    def blackhole(self, direction="both"):
        """Stop forwarding silently: sockets stay open, nothing is read.
        ``direction``: "both", "up" (client -> broker) or "down" (broker -> client)."""
        self._do(self._set_mode, self.DIRECTIONS[direction], self.delay_ms)

    def delay(self, ms):
        """Forward each chunk ``ms`` milliseconds after it arrived (both directions)."""
        self._do(self._set_mode, (), ms)

    def cut(self, conn=None):
        """Reset every live connection (or only ``conn``) on both sides
        (RST, SO_LINGER 0). Returns how many connections were cut."""
        return self._do(self._cut_all, conn)

    def disconnect(self, conn, reason):
        """Stand in for the broker ending ``conn`` with a reason: the client gets an
        MQTT v5 DISCONNECT carrying ``reason`` (e.g. 0x8E Session taken over, which
        Mosquitto sends only from 2.0.15 on), then a FIN; the broker gets a FIN, and
        nothing the client sends from now on reaches it. The connection ends when the
        client closes its side. False if ``conn`` was closed, or the broker's FIN was
        already passed on. A blackhole holds the DISCONNECT back as any other bytes."""
        return self._do(self._disconnect, conn, reason)

    def drop(self, types=()):
        """Stand in for a broker that answers pings but loses other packets: whole MQTT
        packets from the broker whose type is in ``types`` (e.g. {4}: PUBACK) never reach
        the client, on every connection, live and future; each connection counts them
        in ``dropped``. ``drop()`` passes everything again."""
        self._do(setattr, self, "dropping", frozenset(types))

    def refuse(self, on=True):
        """While on, new connections are reset at once (no upstream connect)."""
        self._do(setattr, self, "refusing", bool(on))

    def connections(self):
        """The live connections, oldest first (Connection objects, read-only)."""
        with self._lock:
            return list(self._conns)

    def all_connections(self):
        """Every connection accepted so far, closed ones included."""
        with self._lock:
            return list(self._all)

    def wait_connections(self, n, timeout=5.0):
        """Wait until at least ``n`` connections are live; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            conns = self.connections()
            if len(conns) >= n:
                return conns
            if time.monotonic() > deadline:
                raise TimeoutError("%d live connections, wanted %d" % (len(conns), n))
            time.sleep(0.005)

    def wait_closed(self, conn, timeout=5.0):
        """Wait until ``conn`` is closed (by either end or by cut())."""
        deadline = time.monotonic() + timeout
        while conn.alive:
            if time.monotonic() > deadline:
                raise TimeoutError("%r still open" % conn)
            time.sleep(0.005)

    def bytes_up(self):
        """Client -> broker bytes over every connection so far."""
        with self._lock:
            return sum(c.bytes_up for c in self._all)

    def bytes_down(self):
        """Broker -> client bytes over every connection so far."""
        with self._lock:
            return sum(c.bytes_down for c in self._all)

    def close(self):
        """Reset every connection, stop the thread, close the listener."""
        if self._thread.is_alive():
            try:
                self._do(self._cut_all)
            except RuntimeError:
                pass
            self._stop = True
            self._wake()
            self._thread.join(5)
        for s in (self._listener, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _do(self, fn, *args, timeout=5.0):
        """Run fn(*args) in the proxy thread and wait for it."""
        if not self._thread.is_alive():
            raise RuntimeError("fault proxy thread is not running: %r" % (self._error,))
        done = threading.Event()
        box = []
        self._cmds.append((fn, args, done, box))
        self._wake()
        if not done.wait(timeout):
            raise RuntimeError("fault proxy thread did not answer")
        if box and isinstance(box[0], BaseException):
            raise box[0]
        return box[0] if box else None
