"""The asyncio-streams part of _compat: `Transport` over the (reader, writer) pair that
asyncio.open_connection() gives, with what differs between CPython's StreamReader /
StreamWriter and MicroPython's Stream.  CPython uses it for every connection and
MicroPython for TLS (mqtts://, mqtt5.tls).  A plain TCP connection on MicroPython is
_compat's own socket transport instead, so a basic node never loads this module (nor
asyncio.stream).
"""

from ._compat import _MICROPYTHON as _MP, set_nodelay


class Transport:
    """An open byte stream: one reader, one writer.  The client uses readinto,
    read_now, write, backlog, drain and close, and reads ``nodelay``."""

    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer
        s = getattr(writer, "s", None)  # MicroPython's Stream holds its socket in .s
        self.nodelay = set_nodelay(writer.get_extra_info("socket") if s is None else s)

    if _MP:

        def readinto(self, mv):
            """await: fill up to len(mv) bytes of mv; returns 0 at end of stream."""
            return self._r.readinto(mv)

        def read_now(self, mv):
            """What has arrived, read into mv without waiting: bytes read (0: none);
            OSError once only the connection's error is left.  The Stream reads its
            non-blocking socket directly (no buffer of its own)."""
            return self._r.s.readinto(mv) or 0

        def backlog(self):
            """Bytes written but not yet taken by the socket."""
            return len(self._w.out_buf)

    else:

        async def readinto(self, mv):
            """await: fill up to len(mv) bytes of mv; returns 0 at end of stream.

            CPython's read() returns without suspending while bytes are buffered:
            then a sleep(0) gives the other tasks their turn, so a server flooding
            us cannot starve the writer (MicroPython's Stream always yields).  A
            read that waited for the socket has yielded already: no extra turn."""
            r = self._r
            buffered = len(getattr(r, "_buffer", b"x"))
            data = await r.read(len(mv))
            n = len(data)
            mv[:n] = data
            if buffered:
                import asyncio

                await asyncio.sleep(0)
            return n

        def read_now(self, mv):
            """Nothing: a failed write reaches CPython's StreamReader as its error, and
            the transport closes the socket with whatever it had not read."""
            return 0

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
