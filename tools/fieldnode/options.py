"""The broker options of monitor and cmd, checked before any connection (a wrong one is
exit code 2): --url mqtt[s]://[user:password@]host[:port], --prefix, and the TLS settings
of mqtts://, with the options mosquitto_sub has: --cafile (the CAs to trust, else the
system's or $SSL_CERT_FILE), --cert/--key (a client certificate, mutual TLS), --insecure
(the broker's host name goes unchecked). mqtt.py connects with them."""

import math
import os
import re
import ssl
import sys
from urllib.parse import urlsplit

from . import CliError
from .firmware import module

DEFAULT_URL = "mqtt://127.0.0.1:1883"
PREFIX = "fieldnode/v1"
PORTS = {"mqtt": 1883, "mqtts": 8883}
MAX_PART = 64               # a device id, prefix or command name: as the node's device_id
MAX_SECONDS = 7 * 86400     # a timeout or wait (a Message Expiry, settimeout's limit)
MAX_FILE = 1 << 20          # a CA, certificate or key file


def add_arguments(parser):
    parser.add_argument("--url", default=os.getenv("FIELDNODE_BROKER") or DEFAULT_URL,
                        help="broker URL, mqtt://host[:port] or mqtts:// for TLS, with "
                             "user:password@ before the host if the broker wants them "
                             "(percent-encoded, as in any URL) (default $FIELDNODE_BROKER or "
                             "%s)" % DEFAULT_URL)
    parser.add_argument("--prefix", default=PREFIX, help="topic prefix (default %s)" % PREFIX)
    tls = parser.add_argument_group(
        "TLS (mqtts:// only)", "The broker's certificate is checked against the CAs of "
        "--cafile, else the\nsystem's (or $SSL_CERT_FILE), and its host name against the URL's.")
    tls.add_argument("--cafile", metavar="FILE",
                     help="trust only the CA certificates in FILE (PEM or DER)")
    tls.add_argument("--cert", metavar="FILE",
                     help="client certificate (PEM) for mutual TLS; needs --key")
    tls.add_argument("--key", metavar="FILE", help="the client certificate's private key (PEM)")
    tls.add_argument("--insecure", action="store_true",
                     help="do not check the broker's host name against its certificate (as "
                          "mosquitto_sub --insecure; a trusted CA must still have signed it): "
                          "the broker's identity is NOT verified, a warning says so")


def shown(url):
    """`url` fit for messages: a password in it (mqtt://user:PASS@host) as ***, up to
    the last @ (so that one mistyped with a raw / or @ in it is not echoed either)."""
    i, j = url.find("://"), url.rfind("@")
    i = i + 3 if i >= 0 else 0  # (no ://, or a mistyped one: from the start)
    if j < i:
        return url
    k = url.find(":", i)  # a scheme mistyped (mqtt:/user:pw@h): its colon is not the user's
    k = url.find(":", k + 1) if 0 <= k < j and url[k + 1:k + 2] == "/" else k
    if not 0 <= k < j:
        return url
    return url[:k] + ":***" + url[j:]


def check_url(url):
    """(urlsplit parts, port) of a broker URL; anything but mqtt[s]://host[:port] with a
    port in 1..65535 (a trailing / aside: no path, query or fragment, which the broker
    would never see) is a wrong argument (CliError, exit code 2). A user name and password
    (user:password@host) are percent-encoded, as in any URL (connect() decodes them):
    a raw / ? or # in them ends the host part, which is said."""
    rest = url.partition("://")[2]
    end = min([rest.index(c) for c in "/?#" if c in rest] or [len(rest)])
    if "@" in rest[end:]:   # an @ after the host part: the user info held one of them
        raise CliError("broker URL: a / ? or # in the user name or password must be "
                       "percent-encoded (%%2F %%3F %%23), got %r" % shown(url), code=2)
    env = " (from $FIELDNODE_BROKER)" if url == os.getenv("FIELDNODE_BROKER") else ""
    if rest[end:] not in ("", "/"):     # MQTT has no path: it was dropped unread
        raise CliError("broker URL: %r has no place in mqtt[s]://host[:port] (MQTT has no "
                       "path, query or fragment), got %r%s" % (rest[end:], shown(url), env),
                       code=2)
    try:
        if any(c <= " " or "\x7f" <= c <= "\x9f" for c in url):  # (urlsplit drops a tab
            raise ValueError  # or newline unsaid; no host name has a space or such)
        parts = urlsplit(url)
        host = parts.hostname   # ValueError: a bad [IPv6] literal
        host.encode("idna")     # UnicodeError: not text (bytes from a non-UTF-8 argv), or
        # a label over 63 characters; AttributeError: no host
    except (ValueError, UnicodeError, AttributeError):
        parts = host = None
    try:
        port = parts.port
    except (ValueError, AttributeError):  # not a number, or above 65535
        port = 0
    if not host or parts.scheme not in PORTS or port == 0:
        raise CliError("broker URL must look like mqtt://host[:port] or mqtts://host[:port] "
                       "(port 1-65535), got %r%s" % (shown(url), env), code=2)
    return parts, port or PORTS[parts.scheme]


def check_topic_part(what, value, slashes=False):
    """`value` must go in a topic, by the firmware's rule for device_id and topic_prefix
    (config.topic_part), and not be empty; else a CliError, exit code 2."""
    if not value:
        raise CliError("%s must not be empty" % what, code=2)
    try:
        value.encode()
    except UnicodeError:        # bytes from a non-UTF-8 argv: surrogates
        raise CliError("%s must be UTF-8 text" % what, code=2) from None
    if len(value) > MAX_PART:
        raise CliError("%s must be at most %d characters, got %d" % (what, MAX_PART, len(value)),
                       code=2)
    try:
        module("config").topic_part(what, value, slashes)
    except ValueError as e:
        raise CliError(str(e), code=2) from None
    if slashes and value.startswith("$"):  # a prefix, as topic_prefix [MQTT-4.7.2-1]
        raise CliError("%s: %r must not start with '$' (topics starting with $ are the "
                       "broker's)" % (what, value), code=2)


def check_seconds(option, value, most=MAX_SECONDS):
    """`value` of a seconds option (None: not given) must be positive and at most `most`
    (a timeout or wait: a week; None for a --duration, which only has to be finite);
    else a CliError, exit code 2."""
    if value is None or 0 < value <= (most or math.inf) and value < math.inf:
        return
    if most is None:
        raise CliError("%s must be positive and finite" % option, code=2)
    raise CliError("%s must be above 0 and at most %d (a week), in seconds" % (option, most),
                   code=2)


_TLS_OPTIONS = ("--cafile", "--cert", "--key", "--insecure")


class TLS:
    """The TLS settings of mqtts://: an ssl.SSLContext and the files it was made from."""

    def __init__(self, context, cafile=None, cert=None):
        self.context = context
        self.cafile = cafile
        self.cert = cert


def _read(option, path):
    """The bytes of the file an option names; a missing or unreadable one is a wrong
    argument (CliError, exit code 2)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
        if len(data) <= MAX_FILE:
            return data
        why = "over %d bytes: not a certificate or key file" % MAX_FILE
    except FileNotFoundError:
        why = "no such file"
    except IsADirectoryError:
        why = "a directory, not a file"
    except PermissionError:
        why = "not readable (permission denied)"
    except OSError as e:
        why = "not readable (%s)" % (e.strerror or e)
    raise CliError("%s %s: %s" % (option, path, why), code=2)


def ssl_text(e):
    """The readable part of an ssl error: '[SSL: X] some text (_ssl.c:123)' -> 'some text'."""
    text = str(e.args[1]) if len(e.args) > 1 else str(e)
    return re.sub(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", text)


def tls_context(args):
    """The TLS settings of `args` (--url, --cafile, --cert, --key, --insecure): None for
    mqtt://. Wrong ones are a CliError with exit code 2, before any connection: TLS
    options with a mqtt:// URL, --cert without --key or the reverse, a file missing,
    unreadable, or not what it should be. --insecure prints its warning here."""
    given = [o for o in _TLS_OPTIONS if getattr(args, o[2:], None) not in (None, False)]
    if urlsplit(args.url).scheme != "mqtts":
        if given:
            raise CliError("%s %s: the URL must be mqtts://, got %r" % (
                ", ".join(given), "is a TLS option" if len(given) == 1 else "are TLS options",
                shown(args.url)), code=2)
        return None
    if (args.cert is None) != (args.key is None):
        raise CliError("--cert needs --key (the client certificate's private key)" if args.cert
                       else "--key needs --cert (the client certificate)", code=2)
    if args.cafile is not None:     # only its CAs, not the system's
        data = _read("--cafile", args.cafile)
        if not data:  # (cadata=b"" would load the system's CAs: trusting everything)
            raise CliError("--cafile %s: no CA certificate in it (the file is empty)"
                           % args.cafile, code=2)
        try:
            if re.search(rb"(?m)^(\xef\xbb\xbf)?\s*-----BEGIN ", data):  # PEM [RFC 7468 2]
                context = ssl.create_default_context(cafile=args.cafile)
            else:
                context = ssl.create_default_context(cadata=data)      # DER
        except (ssl.SSLError, ValueError) as e:
            raise CliError("--cafile %s: no CA certificate in it (PEM or DER): %s" % (
                args.cafile, ssl_text(e)), code=2) from None
    else:
        context = ssl.create_default_context()
    if args.cert is not None:
        cert, key = _read("--cert", args.cert), _read("--key", args.key)
        if b"-----BEGIN CERTIFICATE-----" not in cert:
            raise CliError("--cert %s: not a PEM certificate" % args.cert, code=2)
        if b"PRIVATE KEY-----" not in key:
            raise CliError("--key %s: not a PEM private key" % args.key, code=2)

        def passphrase():
            if not sys.stdin.isatty():
                raise CliError("--key %s is encrypted, and there is no terminal to ask its "
                               "pass phrase on" % args.key, code=2)
            import getpass
            return getpass.getpass("pass phrase of %s: " % args.key)
        try:
            context.load_cert_chain(args.cert, args.key, passphrase)
        except ssl.SSLError as e:
            if e.reason in ("KEY_VALUES_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):
                raise CliError("--key %s is not the private key of --cert %s" % (
                    args.key, args.cert), code=2) from None
            raise CliError("--cert %s, --key %s: %s" % (args.cert, args.key, ssl_text(e)),
                           code=2) from None
    if args.insecure:
        context.check_hostname = False
        print("fieldnode %s: warning: --insecure: the broker's certificate is not checked "
              "against the host name %s: the broker's identity is NOT verified" % (
                  getattr(args, "subcommand", ""), urlsplit(args.url).hostname),
              file=sys.stderr)
    return TLS(context, args.cafile, args.cert)
