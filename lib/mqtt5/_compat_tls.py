"""The TLS part of _compat: what differs between CPython's ``ssl`` and MicroPython's
``tls`` (mbedtls), kept apart so that only mqtts:// connections load it.

Measured (host_tests/test_tls.py), MicroPython 1.28 unix port, mbedtls 3.6:
- no PEM parser in the build: certificates and keys are handed over as DER (one
  certificate per load_verify_locations call);
- the host name is checked (DNS and IP subjectAltName entries) when
  server_hostname is set, and it must be set with CERT_REQUIRED;
- validity dates are checked against the port's clock (an expired and a
  not-yet-valid certificate are refused): a board must set its clock (NTP)
  before connecting, or every certificate looks not yet valid;
- TLS 1.2 only; the handshake runs inside the stream's first non-blocking
  writes and reads, one mbedtls step per call.
CPython: ``ssl`` with check_hostname, TLS 1.2/1.3, the handshake in the event
loop (ssl_handshake_timeout bounds it).
"""

import asyncio

from ._compat import _MICROPYTHON as _MP

# by runtime, not by what imports: on CPython a folder named tls/ (certificates) on
# sys.path would be taken for MicroPython's module
if _MP:
    import tls as _ssl
else:
    import ssl as _ssl


def make_context(cas, certs, key, insecure):
    """A client SSLContext.  cas: [DER, ...] or None (the system store, CPython
    only); certs: [DER, ...] leaf first, key: (PEM label, DER), or None."""
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    if insecure:  # the server goes unverified; a client certificate is still sent
        if not _MP:
            ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
    else:
        ctx.verify_mode = _ssl.CERT_REQUIRED
        _trust(ctx, cas)
    if certs is not None:
        if _MP:
            _loaded("cert/key", ctx.load_cert_chain, certs[0], key[1])
        else:
            _cpython_chain(ctx, certs, key)
    return ctx


def _trust(ctx, cas):
    # the CAs the server's certificate must chain to
    if cas is None:
        if _MP:
            raise ValueError("mqtts:// needs tls={'ca': ...} on MicroPython (no system "
                             "CA store), or tls={'insecure': True}")
        ctx.load_default_certs()
    elif _MP:
        for der in cas:
            _loaded("ca", ctx.load_verify_locations, der)
    else:
        _loaded("ca", ctx.load_verify_locations, cadata=b"".join(cas))


def _loaded(what, fn, *args, **kw):
    # call a loader; its error becomes a ValueError naming the option (never
    # quoting the data)
    try:
        fn(*args, **kw)
    except Exception as e:
        raise ValueError("tls %s: not a valid certificate/key (%s)" % (what, type(e).__name__))


def _cpython_chain(ctx, certs, key):
    # CPython loads a client certificate only from a file: a PEM written to a
    # private temporary file (mode 0600), removed at once.
    import os
    import tempfile  # type: ignore[import-not-found]  # CPython only
    from binascii import b2a_base64

    def pem(label, der):
        b = b2a_base64(der, newline=False)
        lines = [b[i:i + 64] for i in range(0, len(b), 64)]
        return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
            label.encode(), b"\n".join(lines), label.encode())

    text = b"".join(pem("CERTIFICATE", d) for d in certs)
    text += pem(key[0] or _key_label(key[1]), key[1])
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        os.write(fd, text)
        os.close(fd)
        _loaded("cert/key", ctx.load_cert_chain, path)
    finally:
        os.unlink(path)


def _key_label(der):
    # The PEM label of a DER private key: after SEQUENCE and the version INTEGER
    # comes a SEQUENCE (PKCS#8), an INTEGER (PKCS#1 RSA) or an OCTET STRING (SEC1 EC)
    if len(der) < 2:  # (nothing that parses: the loader says so)
        return "PRIVATE KEY"
    i = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    j = i + 2 + der[i + 1] if len(der) > i + 1 else 0
    tag = der[j] if len(der) > i + 3 and j < len(der) else 0x30
    return "RSA PRIVATE KEY" if tag == 0x02 else "EC PRIVATE KEY" if tag == 0x04 \
        else "PRIVATE KEY"


async def wrap_streams(host, port, ctx, name, timeout_ms):
    """asyncio streams over TLS to host:port (server_hostname `name`)."""
    if _MP:  # the handshake runs with the first writes and reads
        return await _mp_streams(host, port, ctx, name)
    # ssl_shutdown_timeout: close() sends close_notify and waits for the server's
    # (asyncio's default 30 s); a server gone silent held each closed link's socket
    # that long, piling up sockets through a Supervisor's retries
    return await asyncio.open_connection(host, port, ssl=ctx, server_hostname=name,
                                         ssl_handshake_timeout=timeout_ms / 1000,
                                         ssl_shutdown_timeout=2)


def _mp_streams(host, port, ctx, name):
    # MicroPython's asyncio.open_connection(), keeping the TCP socket as the stream's
    # `raw` for TLSTransport.close(): a refused handshake unlinks it from the TLS socket
    # without closing it (extmod/modtls_mbedtls.c), so each refusal left a descriptor,
    # and on a board an lwIP connection, open until a collection. A generator, as
    # open_connection() is: it waits for the socket with asyncio's I/O queue.
    import socket
    from errno import EINPROGRESS
    from asyncio import core  # type: ignore[attr-defined]  # MicroPython only
    from asyncio.stream import Stream  # type: ignore[import-not-found]

    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    raw = socket.socket(ai[0], ai[1], ai[2])
    try:
        raw.setblocking(False)
        try:
            raw.connect(ai[-1])
        except OSError as e:
            if e.errno != EINPROGRESS:
                raise
        s = ctx.wrap_socket(raw, server_hostname=name, do_handshake_on_connect=False)
        s.setblocking(False)
        ss = Stream(s)
        ss.raw = raw
        yield core._io_queue.queue_write(s)
    except BaseException:  # (a refused connect, a timeout meanwhile)
        raw.close()
        raise
    return ss, ss


def refusal(e):
    """What a TLS failure `e` means, as text; None when `e` is no TLS error."""
    if _MP:
        if isinstance(e, ValueError):  # certificate verification (mbedtls flags)
            lines = [x for x in str(e).split("\n") if x.strip() and x != "'"]
            return "server certificate refused: " + "; ".join(lines)
        a = getattr(e, "args", ())
        if isinstance(e, OSError) and a and isinstance(a[0], int) and a[0] < 0:
            return "handshake failed: %s" % (a[1] if len(a) > 1 else "mbedtls -0x%04X" % -a[0])
        return None
    if isinstance(e, _ssl.SSLCertVerificationError):  # type: ignore[attr-defined]  # CPython only
        return "server certificate refused: %s" % e.verify_message
    if isinstance(e, _ssl.SSLError):  # type: ignore[attr-defined]  # CPython only
        return "handshake failed: %s" % (e.reason or e)
    return None
