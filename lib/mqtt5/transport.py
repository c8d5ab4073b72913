"""Opening the client's byte transport: URL parsing, then a TCP connection within a
timeout (mqtt5._compat.open_tcp) or, for mqtts://, TLS (mqtt5.tls, imported only for
such URLs).

What it returns has readable / read_now / write / backlog / drain / close and
``nodelay``: on MicroPython a plain TCP connection is _compat's socket transport; TLS,
and every connection on CPython, a mqtt5._compat_streams.Transport over asyncio's
streams.
"""

from ._compat import open_tcp


def parse_url(url):
    """'mqtt://host:port' -> ('mqtt', host, port). Port defaults to 1883 (8883 for
    mqtts). A bare 'host[:port]' means mqtt://. IPv6 hosts go in brackets.
    ValueError naming the scheme for another scheme, the URL for no host, or a port that is not
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
        if ":" in host:  # one colon before the port: an IPv6 address goes in brackets
            host = ""
    if k >= 0:
        port = hp[k + 1 :].encode()  # ASCII digits (str's isdigit() and int() take
        port = int(port) if port.isdigit() else 0  # others on CPython; min() and max()
        # over the str kept 592 B more in the heap after connect, frozen, every run)
    if not host or not 0 < port < 65536:
        raise ValueError("bad URL %r: expected mqtt[s]://host[:port], port 1..65535" % url)
    if not hp.startswith("["):  # a name's labels: 1..63 characters (RFC 1035 2.3.4),
        i, end = 0, len(host) - host.endswith(".")  # a trailing dot the root's (found
        while True:  # by index: a split's list and strings stayed in the heap)
            j = host.find(".", i, end)
            j = end if j < 0 else j
            if not 0 < j - i < 64:
                raise ValueError("bad URL %r: a host name's labels are 1 to 63 "
                                 "characters" % url)
            if j == end:
                break
            i = j + 1
    return scheme, host, port


async def open_transport(url, timeout_ms, tls):
    """Connect to `url` ('mqtt://host:port' or 'mqtts://host:port' with the `tls`
    options of mqtt5.tls); raises OSError / asyncio.TimeoutError, mqtt5.tls.TLSError
    for a refused handshake.  TLS options with a mqtt:// URL are a ValueError:
    nothing falls back to plain TCP.

    Name resolution (getaddrinfo) is the one blocking call on MicroPython.
    """
    scheme, host, port = parse_url(url)
    if scheme != "mqtts" and tls is not None:
        raise ValueError("TLS options given but the URL is mqtt:// (use mqtts://)")
    try:
        if scheme == "mqtts":
            from .tls import open_tls  # lazy: plain nodes never load TLS

            return await open_tls(host, port, tls, timeout_ms)
        return await open_tcp(host, port, timeout_ms)
    except UnicodeError as e:  # CPython's IDNA codec, at the lookup: no name DNS can
        raise OSError("cannot resolve %r (%s)" % (host, e))  # hold (not a bad option:
    except OSError as e:  # the Supervisor tries its other URLs)
        if scheme == "mqtts":
            raise
        raise unresolved(e, host)


def unresolved(e, host):
    """OSError `e`, or when it is a name that did not resolve an OSError naming the
    host: getaddrinfo raises the unix port's text "[addrinfo error -2]", EAI_* -1..-16
    (CPython, lwIP's err_t on rp2) or -200..-204 (esp32's lwip_getaddrinfo)."""
    n = e.args[0] if e.args else 0
    if (isinstance(n, str) and "addrinfo" in n  # (not a TimeoutError's text: CPython's
            or isinstance(n, int) and (-16 <= n < 0 or -204 <= n <= -200)):  # is an OSError)
        return OSError("cannot resolve %r (%s)" % (host, e))
    return e
