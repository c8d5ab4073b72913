"""TLS for mqtts:// URLs, imported only when a Client is given `tls=` options or
connects to a mqtts:// URL: a plain node never loads it.

Options (``Client(tls={...})``, checked at construction by ``check()``):

- ``ca``: the CA certificate(s) the server's certificate must chain to: a file
  path (str) or the bytes of a PEM (one or more certificates) or DER file.  A
  file is read at every connect; one missing or not parsing is a TLSError (the
  Supervisor retries), bytes not parsing a ValueError.
  Without it, CPython uses the system's CA store; MicroPython has none, so
  connecting refuses with a clear error.
- ``cert`` and ``key``: the client certificate and its private key for mutual
  TLS, each a path or PEM/DER bytes (MicroPython sends the first certificate of a
  PEM chain only).
- Each of the three may also be PEM text as a str (a str holding a ``-----BEGIN``
  line, e.g. ``open(f).read()``): it is taken as the file's bytes, not as a path.
- ``server_hostname``: the name the server certificate must carry (default: the
  URL's host, an IP address is matched against the certificate's IP entries;
  MicroPython's mbedtls also takes a DNS entry or Common Name spelling it).
- ``insecure=True``: the server is not verified (encryption without authenticating
  the server; a ``cert``/``key`` given is still sent); printed as a warning at
  every connect.  Only when asked for by name.

Instead of a dict, a ready SSLContext of the runtime (``ssl`` / ``tls`` module) is
used as given.  Verification failures raise ``TLSError`` naming the cause
("TLS: server certificate refused: certificate has expired"); nothing falls back
to plain TCP.  No key or certificate bytes ever appear in an error.
"""

import asyncio

from .errors import MQTTError
from ._compat_tls import make_context, refusal, wrap_streams
from ._compat_streams import Transport
from .transport import unresolved

_KEYS = ("ca", "cert", "key", "server_hostname", "insecure")


class TLSError(MQTTError):
    """A TLS handshake that failed: ``str()`` names the cause."""


def check(opts):
    """Validate `Client(tls=...)`: None, an SSLContext, or a dict of the options in
    the module doc.  TypeError / ValueError naming the bad option (never its value)."""
    if opts is None or hasattr(opts, "wrap_socket"):
        return opts
    if not isinstance(opts, dict):
        raise TypeError("tls: a dict of options or an SSLContext")
    for k in opts:
        if k not in _KEYS:
            raise ValueError("tls: unknown option %r" % (k,))
    for k in ("ca", "cert", "key"):
        v = opts.get(k)
        if v is not None and not isinstance(v, (str, bytes, bytearray)):
            raise TypeError("tls %s: a file path or PEM text (str), or PEM/DER bytes" % k)
    if (opts.get("cert") is None) != (opts.get("key") is None):
        raise ValueError("tls: cert and key go together")
    h = opts.get("server_hostname")
    if h is not None and not isinstance(h, str):
        raise TypeError("tls server_hostname: a str")
    if opts.get("insecure") is not None and not isinstance(opts["insecure"], bool):
        raise TypeError("tls insecure: True or False")
    if opts.get("insecure") and opts.get("ca") is not None:
        raise ValueError("tls: insecure and ca exclude each other")
    return opts


def _is_path(v):
    # a str is a file path unless it holds a BEGIN line: the PEM text itself (read
    # with open(f).read()), handled as its bytes and never echoed
    return isinstance(v, str) and "-----BEGIN " not in v


def _load(v, what):
    # a path, PEM text or the file's bytes -> bytes. A long path or one with a line
    # break is not echoed: it may be a key's base64 given by mistake.
    if _is_path(v):
        try:
            with open(v, "rb") as f:
                return f.read()
        except OSError as e:
            if len(v) > 128 or "\n" in v:
                v = "(a str of %d characters, neither a path nor PEM text)" % len(v)
            # (CPython's OSError text repeats the path: its errno text only)
            raise TLSError("TLS: cannot read the %s file %s (%s)"
                           % (what, v, getattr(e, "strerror", None) or e))
    return v.encode() if isinstance(v, str) else bytes(v)


def der_blocks(data):
    """[(label, DER bytes), ...] of the BEGIN/END blocks of a PEM text, or
    [(None, data)] for DER (no line starts a block).  Text around the blocks
    (comments, bag attributes, `openssl x509 -text` output, a byte-order mark) is
    skipped [RFC 7468 2].  Labels: 'CERTIFICATE', 'PRIVATE KEY', ...  ValueError
    for a block that does not decode, or an encrypted key."""
    out = []
    label = None
    body = []
    pem = False
    for line in data.split(b"\n") if b"-----BEGIN " in data else ():
        line = line.strip()
        if line[:3] == b"\xef\xbb\xbf":  # a byte-order mark
            line = line[3:]
        if line.startswith(b"-----BEGIN "):
            pem = True
            label = str(line[11:].rstrip(b"-"), "ascii")  # (UnicodeError is a ValueError)
            body = []
        elif line.startswith(b"-----END "):
            if label is not None:
                from binascii import a2b_base64

                out.append((label, a2b_base64(b"".join(body))))  # ValueError if bad
            label = None
        elif label is not None:
            if b"ENCRYPTED" in line:  # Proc-Type: 4,ENCRYPTED (RFC 1421 headers)
                label = "ENCRYPTED " + label
            elif b":" not in line:  # DEK-Info: ...
                body.append(line)
        if label and label.startswith("ENCRYPTED"):
            raise ValueError("the key is encrypted: give it decrypted (openssl pkey "
                             "-in key.pem -out plain.pem), kept where only the node reads it")
    if not pem:
        return [(None, data)]
    if not out:
        raise ValueError("no complete PEM block")
    return out


def context(opts, host):
    """(SSLContext, server_hostname) for one connection from the options.  A file
    option that cannot be read or parsed is a TLSError (it may be fixed before the
    next try); bytes that do not parse, or options no retry can fix, a ValueError."""
    if opts is not None and hasattr(opts, "wrap_socket"):
        return opts, host
    opts = opts or {}
    name = opts.get("server_hostname") or host
    insecure = opts.get("insecure")
    if insecure:  # a client certificate, if given, is still sent
        print("mqtt5: TLS insecure mode: the certificate of %s is NOT verified" % name)
    cas = certs = key = None
    if opts.get("ca") is not None:
        cas = _blocks(opts, "ca", "CERTIFICATE")
    if opts.get("cert") is not None:
        certs = _blocks(opts, "cert", "CERTIFICATE")
        # the key block (openssl ecparam -genkey writes EC PARAMETERS first)
        key = _blocks(opts, "key", "PRIVATE KEY")[0]
    try:
        return make_context(cas, certs, key, insecure), name
    except ValueError as e:  # "tls ca: ...", "tls cert/key: ...": the DER did not load
        head = str(e).split(":")[0]
        for k in ("ca", "cert", "key"):
            if head.startswith("tls ") and k in head and _is_path(opts.get(k)):
                raise TLSError("TLS: " + str(e))
        raise


def _blocks(opts, what, kind):
    # The blocks of option `what` whose label ends with `kind` (DER: all of it); a
    # chain's other blocks, a key beside a certificate, EC PARAMETERS are left out.
    # Certificates: [DER, ...]; a key: [(label, DER)].
    v = opts[what]
    try:
        got = [b for b in der_blocks(_load(v, what)) if b[0] is None or b[0].endswith(kind)]
        if not got:
            raise ValueError("no %s block" % kind)
    except ValueError as e:
        if _is_path(v):
            raise TLSError("TLS: the %s file %s: %s" % (what, v, e))
        raise ValueError("tls %s: %s" % (what, e))
    return got if kind == "PRIVATE KEY" else [d for _, d in got]


class TLSTransport(Transport):
    """Transport over TLS: errors name their TLS cause; a read that decrypted no
    application data (a handshake step, a partial record) is waited through."""

    rx = False  # application bytes arrived: the handshake is over

    async def readable(self):
        try:
            await Transport.readable(self)
        except Exception as e:
            raise self._named(e)

    def read_now(self, mv):
        try:
            n = Transport.read_now(self, mv)  # None: no whole record yet (waited through)
        except Exception as e:
            raise self._named(e)
        if n == 0 and not self.rx:
            raise TLSError("TLS: the server closed the connection before any data "
                           "(handshake refused: client certificate required?)")
        if n:
            self.rx = True
        return n

    def write(self, buf):
        try:
            self._w.write(buf)
        except Exception as e:
            raise self._named(e)

    async def drain(self):
        try:
            await self._w.drain()
        except Exception as e:
            raise self._named(e)

    def _named(self, e):
        return named(e, not self.rx)

    def close(self):
        """Close now; on MicroPython the TCP socket too, which a refused handshake
        left open under the TLS socket (mqtt5._compat_tls)."""
        Transport.close(self)
        raw = getattr(self._w, "raw", None)
        if raw is not None:
            try:
                raw.close()
            except Exception:
                pass


async def open_tls(host, port, opts, timeout_ms):
    """Connect and start TLS -> TLSTransport.  Bounded by timeout_ms; on MicroPython
    the handshake completes with the first writes and reads (the client's CONNACK
    wait, also connect_timeout_ms, bounds it)."""
    ctx, name = context(opts, host)
    try:
        r, w = await asyncio.wait_for(wrap_streams(host, port, ctx, name, timeout_ms),
                                      timeout_ms / 1000)
    except asyncio.TimeoutError:
        raise asyncio.TimeoutError("no TLS connection within %d ms" % timeout_ms)
    except OSError as e:
        raise named(unresolved(e, host), True)
    except Exception as e:
        raise named(e, True)
    return TLSTransport(r, w)


def named(e, handshake):
    """The TLSError naming what a TLS failure `e` means, or `e` itself when it is
    no TLS failure (a refused TCP connect, a socket error after the handshake).
    `handshake`: no application data came yet, so a reset (ECONNRESET 104,
    EPIPE 32, or CPython's bare ConnectionResetError of a close mid-handshake) is
    the server refusing the handshake."""
    if isinstance(e, MQTTError):
        return e
    why = refusal(e)
    if why:
        return TLSError("TLS: " + why)
    if handshake and isinstance(e, OSError) and (not e.args or e.args[0] in (104, 32)):
        return TLSError("TLS: handshake failed: the connection was closed (the server "
                        "wants a client certificate, it is no TLS port, or the network "
                        "dropped the link) (%r)" % (e,))
    return e
