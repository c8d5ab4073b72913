"""Byte transport for the asyncio client: URL parsing, connect with a timeout,
TCP_NODELAY, readinto, whole-buffer writes.

The client only uses `Transport` (readinto / write / drain / close); TLS
(`mqtts://`) is mqtt5.tls.TLSTransport, imported only for such URLs.
"""

import asyncio

from ._compat import (open_tcp, set_nodelay, stream_backlog, stream_read_now,
                      stream_readinto, stream_socket)


def parse_url(url):
    """'mqtt://host:port' -> ('mqtt', host, port). Port defaults to 1883 (8883 for
    mqtts). A bare 'host[:port]' means mqtt://. IPv6 hosts go in brackets.
    ValueError naming the URL for another scheme, no host, or a port that is not
    1..65535; also for user:password@ in it (credentials are Client arguments),
    then without echoing them."""
    scheme = "mqtt"
    hp = url
    i = url.find("://")
    if i >= 0:
        scheme = url[:i]
        hp = url[i + 3 :]
    if scheme not in ("mqtt", "mqtts"):
        raise ValueError("unsupported URL scheme: " + scheme)
    if "@" in hp:  # (before a "/": a password may hold one)
        hp = hp[hp.rfind("@") + 1:]
        raise ValueError("bad URL %s://...@%s: credentials do not go in the URL (pass "
                         "username= and password=)" % (scheme, hp.split("/")[0]))
    j = hp.find("/")
    if j >= 0:
        hp = hp[:j]
    port = 8883 if scheme == "mqtts" else 1883
    k = hp.rfind(":")
    host = hp
    if hp.startswith("["):
        k = hp.find("]")
        host = hp[1:k] if k > 0 else ""
        rest = hp[k + 1 :]
        if rest and rest[0] != ":":
            host = ""  # nothing but :port may follow the brackets
        k = k + 1 if rest else -1
    elif k >= 0:
        host = hp[:k]
    if k >= 0:
        port = hp[k + 1 :]
        port = int(port) if port.isdigit() else 0
    if not host or not 0 < port < 65536:
        raise ValueError("bad URL %r: expected mqtt[s]://host[:port], port 1..65535" % url)
    return scheme, host, port


class Transport:
    """An open byte stream: one reader, one writer."""

    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer
        self.nodelay = set_nodelay(stream_socket(writer))

    def readinto(self, mv):
        """await: fill up to len(mv) bytes of mv; returns 0 at end of stream."""
        return stream_readinto(self._r, mv)

    def read_now(self, mv):
        """What has arrived, read into mv without waiting: bytes read (0: none, or
        CPython); OSError once only the connection's error is left."""
        return stream_read_now(self._r, mv)

    def write(self, buf):
        """Hand `buf` to the stream in one write (the stream copies what the socket
        does not take now); `drain()` waits for that backlog."""
        self._w.write(buf)

    def backlog(self):
        """Bytes written but not yet taken by the socket."""
        return stream_backlog(self._w)

    def drain(self):
        """await: until the backlog is handed to the socket."""
        return self._w.drain()

    def close(self):
        """Close now (no awaiting: safe from error paths)."""
        w = self._w
        try:
            # MicroPython's streams hold their socket in .s, and Stream.close() does
            # nothing (wait_closed() closes): a link given up stayed open for the
            # server until its keep alive ran out
            s = getattr(w, "s", None)
            if s is None:
                w.close()
            else:
                s.close()
        except Exception:
            pass


async def open_transport(url, timeout_ms=10000, tls=None):
    """Connect to `url` ('mqtt://host:port' or 'mqtts://host:port' with the `tls`
    options of mqtt5.tls); raises OSError / asyncio.TimeoutError, mqtt5.tls.TLSError
    for a refused handshake.  TLS options with a mqtt:// URL are a ValueError:
    nothing falls back to plain TCP.

    Name resolution (getaddrinfo) is the one blocking call on MicroPython.
    """
    scheme, host, port = parse_url(url)
    if scheme == "mqtts":
        from .tls import open_tls  # lazy: plain nodes never load TLS

        return await open_tls(host, port, tls, timeout_ms)
    if tls is not None:
        raise ValueError("TLS options given but the URL is mqtt:// (use mqtts://)")
    try:
        r, w = await open_tcp(host, port, timeout_ms)
    except OSError as e:
        raise unresolved(e, host)
    return Transport(r, w)


def unresolved(e, host):
    """OSError `e`, or when it is a name that did not resolve an OSError naming the
    host: getaddrinfo raises the unix port's text "[addrinfo error -2]", EAI_* -1..-16
    (CPython, lwIP's err_t on rp2) or -200..-204 (esp32's lwip_getaddrinfo)."""
    n = e.args[0] if e.args else 0
    if isinstance(n, str) or isinstance(n, int) and (-16 <= n < 0 or -204 <= n <= -200):
        return OSError("cannot resolve %r (%s)" % (host, e))
    return e
