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
"""

import collections
import select
import socket
import struct
import threading
import time

_CHUNK = 65536
_HIGH_WATER = 1 << 20   # stop reading a side while this much waits to be written


def _rst_close(sock):
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Connection:
    """One proxied client connection (client socket <-> broker socket)."""

    def __init__(self, cid, client, server, capture):
        self.id = cid
        self.client = client
        self.server = server
        self.opened_at = time.monotonic()
        self.closed_at = None
        self.close_reason = None
        self.bytes_up = 0        # client -> broker
        self.bytes_down = 0      # broker -> client
        self.up = bytearray() if capture else None
        self.down = bytearray() if capture else None
        # per destination socket: deque of [release_time, memoryview]
        self._out = {client: collections.deque(), server: collections.deque()}
        self._eof = {client: False, server: False}   # read side finished
        self._shut = {client: False, server: False}  # write side shut (FIN sent)
        self._dropping = False  # disconnect(): the client's bytes go nowhere
        self._partial = bytearray()  # drop(): broker bytes not yet a whole packet
        self.dropped = 0  # drop(): packets dropped on this connection

    @property
    def alive(self):
        return self.closed_at is None

    def peer(self, sock):
        return self.server if sock is self.client else self.client

    def pending(self, dst):
        return sum(len(c[1]) for c in self._out[dst])

    def mqtt_packets(self, direction="up"):
        """The captured bytes of one direction split into MQTT packets:
        list of (packet_type, bytes); an incomplete tail is left out."""
        data = self.up if direction == "up" else self.down
        if data is None:
            raise RuntimeError("FaultProxy(capture=True) is needed for packet capture")
        return split_mqtt(bytes(data))

    def __repr__(self):
        return "<Connection %d %s up=%d down=%d>" % (
            self.id, "alive" if self.alive else "closed", self.bytes_up, self.bytes_down)


def split_mqtt(data):
    """Split a byte stream into MQTT control packets: [(type 1..15, bytes)]."""
    out = []
    i = 0
    n = len(data)
    while i < n:
        j = i + 1
        length = 0
        shift = 0
        while True:
            if j >= n:
                return out
            b = data[j]
            j += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > 21:
                raise ValueError("malformed remaining length at offset %d" % i)
        end = j + length
        if end > n:
            return out
        out.append((data[i] >> 4, data[i:end]))
        i = end
    return out


class FaultProxy:
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

    # ---- proxy thread ---------------------------------------------------------------
    @property
    def mode(self):
        """"pass", "blackhole" (both ways), "blackhole up" or "blackhole down"."""
        if not self.held:
            return "pass"
        return "blackhole" if len(self.held) == 2 else "blackhole " + self.held[0]

    def _set_mode(self, held, delay_ms):
        self.held = held
        if delay_ms < self.delay_ms:  # a shorter delay also applies to what waits
            latest = time.monotonic() + delay_ms / 1000.0
            for c in self._conns:
                for q in c._out.values():
                    for chunk in q:
                        chunk[0] = min(chunk[0], latest)
        self.delay_ms = delay_ms

    def _cut_all(self, only=None):
        n = 0
        for c in list(self._conns):
            if only is None or c is only:
                self._close(c, "cut", rst=True)
                n += 1
        return n

    def _disconnect(self, c, reason):
        if not c.alive or c._shut[c.client]:
            return False
        c._out[c.server].clear()
        c._dropping = True  # what the client sends from now on is dropped
        try:
            c.server.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        c._eof[c.server] = True  # nothing more from the broker: a FIN once this is out
        # (_shut[server] stays False: set, _half_close would close both once the client
        # has its FIN, before the client has closed)
        c._out[c.client].append([0, memoryview(bytes((0xE0, 2, reason, 0)))])
        # the socket stays open until the client closes it: a write of the client's
        # meanwhile must not meet an RST before it has read the DISCONNECT
        return True

    def _close(self, c, reason, rst=False):
        if not c.alive:
            return
        for s in (c.client, c.server):
            if rst:
                _rst_close(s)
            else:
                try:
                    s.close()
                except OSError:
                    pass
        with self._lock:
            c.closed_at = time.monotonic()
            c.close_reason = reason
            if c in self._conns:
                self._conns.remove(c)

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if self.refusing:
                _rst_close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _rst_close(client)
                continue
            for s in (client, server):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                c = Connection(self._next_id, client, server, self.capture)
                self._next_id += 1
                self._conns.append(c)
                self._all.append(c)

    def _read(self, c, src, now):
        try:
            data = src.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(c, "reset by " + ("client" if src is c.client else "broker"), rst=True)
            return
        dst = c.peer(src)
        if not data:
            c._eof[src] = True
            return
        if c._dropping:  # disconnect(): nothing more reaches the broker
            return
        with self._lock:
            if src is c.client:
                c.bytes_up += len(data)
                if c.up is not None:
                    c.up += data
            else:
                c.bytes_down += len(data)
                if c.down is not None:
                    c.down += data
        if src is c.server and (self.dropping or c._partial):
            data = self._filter(c, data)
            if not data:
                return
        c._out[dst].append([now + self.delay_ms / 1000.0, memoryview(data)])

    def _filter(self, c, data):
        # drop(): whole packets pass unless their type is dropped; a partial one waits
        c._partial += data
        whole = split_mqtt(bytes(c._partial))
        n = sum(len(p) for _, p in whole)
        del c._partial[:n]
        kept = [p for t, p in whole if t not in self.dropping]
        c.dropped += len(whole) - len(kept)
        return b"".join(kept)

    def _write(self, c, dst, now):
        q = c._out[dst]
        while q and q[0][0] <= now:
            chunk = q[0][1]
            try:
                n = dst.send(chunk)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close(c, "reset by " + ("client" if dst is c.client else "broker"),
                            rst=True)
                return
            if n < len(chunk):
                q[0][1] = chunk[n:]
                return
            q.popleft()

    def _half_close(self, c):
        # A side that sent FIN: once its data is delivered, pass the FIN on.
        for src in (c.client, c.server):
            dst = c.peer(src)
            if self._direction(c, src) in self.held:
                continue
            if c._eof[src] and not c._shut[dst] and not c._out[dst]:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                c._shut[dst] = True
        if c._shut[c.client] and c._shut[c.server]:
            self._close(c, "closed")

    @staticmethod
    def _direction(c, src):
        return "up" if src is c.client else "down"

    def _loop(self):
        try:
            self._run()
        except BaseException as e:  # keep the reason for the test's error message
            self._error = e
            raise

    def _run(self):
        while not self._stop:
            while self._cmds:
                fn, args, done, box = self._cmds.popleft()
                try:
                    box.append(fn(*args))
                except BaseException as e:
                    box.append(e)
                done.set()
            now = time.monotonic()
            rd = [self._listener, self._wake_r]
            wr = []
            timeout = None
            for c in list(self._conns):
                self._half_close(c)
                if not c.alive:
                    continue
                for src in (c.client, c.server):
                    if self._direction(c, src) in self.held:
                        continue
                    dst = c.peer(src)
                    q = c._out[dst]
                    if not c._eof[src] and c.pending(dst) < _HIGH_WATER:
                        rd.append(src)
                    if q:
                        wait = q[0][0] - now
                        if wait <= 0:
                            wr.append(dst)
                        elif timeout is None or wait < timeout:
                            timeout = wait
            r, w, _ = select.select(rd, wr, [], timeout)
            now = time.monotonic()
            if self._wake_r in r:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
            if self._listener in r:
                self._accept()
            for c in list(self._conns):
                for s in (c.client, c.server):
                    if not c.alive:
                        break
                    if s in r:
                        self._read(c, s, now)
                    if c.alive and s in w:
                        self._write(c, s, now)
