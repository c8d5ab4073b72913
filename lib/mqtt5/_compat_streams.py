"""The asyncio-streams part of _compat: `Transport` over the (reader, writer) pair that
asyncio.open_connection() gives, with what differs between CPython's StreamReader /
StreamWriter and MicroPython's Stream.  CPython uses it for every connection and
MicroPython for TLS (mqtts://, mqtt5.tls).  A plain TCP connection on MicroPython is
_compat's own socket transport instead, so a basic node never loads this module (nor
asyncio.stream).
"""

from ._compat import _MICROPYTHON as _MP, set_nodelay

if _MP:
    from ._compat import _io  # asyncio's I/O queue


class Transport:
    """An open byte stream: one reader, one writer.  The client uses readable,
    read_now, write, backlog, drain and close, and reads ``nodelay``."""

    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer
        s = getattr(writer, "s", None)  # MicroPython's Stream holds its socket in .s
        self.nodelay = set_nodelay(writer.get_extra_info("socket") if s is None else s)

    if _MP:

        def readable(self):  # a generator: awaited
            """await: until bytes (or the end of the stream) can be read now."""
            yield _io().queue_read(self._r.s)

        def read_now(self, mv):
            """What has arrived, read into mv without waiting: bytes read, 0 at the end
            of the stream, None when nothing has (a TLS record not whole yet); OSError
            once only the connection's error is left.  The Stream reads its
            non-blocking socket directly (no buffer of its own)."""
            return self._r.s.readinto(mv)

        def backlog(self):
            """Bytes written but not yet taken by the socket."""
            return len(self._w.out_buf)

    else:
        _rest = None  # what readable() read and read_now() has not handed out yet
        _eof = False

        async def readable(self):
            """await: until bytes (or the end of the stream) can be read now.

            CPython's read() returns without suspending while bytes are buffered:
            then a sleep(0) gives the other tasks their turn, so a server flooding
            us cannot starve the writer (MicroPython's Stream always yields).  A
            read that waited for the socket has yielded already: no extra turn."""
            if self._rest or self._eof:
                return
            r = self._r
            buffered = len(getattr(r, "_buffer", b"x"))
            data = await r.read(65536)
            self._rest = memoryview(data)  # (handed out in slices: no copies)
            self._eof = not data
            if buffered:
                import asyncio

                await asyncio.sleep(0)

        def read_now(self, mv):
            """What readable() has read, into mv: bytes, 0 at the end of the stream,
            None when there is nothing (the StreamReader is only read by awaiting).
            After a failed write, the StreamReader has the error (and the transport
            closes the socket with whatever it had not read)."""
            d = self._rest
            if not d:
                return 0 if self._eof else None
            n = min(len(mv), len(d))
            mv[:n] = d[:n]
            self._rest = d[n:]
            return n

        def backlog(self):
            """Bytes written but not yet taken by the socket."""
            return self._w.transport.get_write_buffer_size()

    def write(self, buf):
        """Hand `buf` to the stream in one write (the stream copies what the socket
        does not take now); `drain()` waits for that backlog."""
        self._w.write(buf)

    def drain(self):
        """await: until the backlog is handed to the socket."""
        return self._w.drain()

    def close(self):
        """Close now (no awaiting: safe from error paths)."""
        w = self._w
        try:
            # MicroPython's Stream.close() does nothing (wait_closed() closes): close
            # its socket, or a link given up stays open for the server until its keep
            # alive runs out
            s = getattr(w, "s", None)
            if s is None:
                w.close()
            else:
                s.close()
        except Exception:
            pass
