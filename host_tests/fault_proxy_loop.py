"""The fault proxy's thread (fault_proxy.py): accepting, forwarding with the modes
applied (blackhole, delay, drop, refuse), half-closes, cuts and disconnects. A mixin
of FaultProxy, whose __init__ sets the state it works on; the control calls run
these methods in this thread through FaultProxy._do()."""

import select
import socket
import time

from fault_proxy_conn import Connection, _rst_close
from mqtt_split import split_mqtt

_CHUNK = 65536
_HIGH_WATER = 1 << 20   # stop reading a side while this much waits to be written


class ProxyThread:
    """FaultProxy's proxy-thread half: everything here runs in its thread."""

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
