"""A paho-mqtt v5 connection to the broker for monitor and cmd, with one-line errors.

The options it takes (URL, TLS settings) are checked beforehand by options.py; here a
refused handshake, a closed connection or a refused subscription is named."""

import socket
import ssl
import threading
import time
import uuid
from urllib.parse import unquote

from . import CliError
from .options import TLS, check_url, shown, ssl_text


# alerts a broker sends when it refuses the client's certificate, or wants one
_CLIENT_CERT_ALERTS = ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE",
                       "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
                       "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
                       "TLSV1_ALERT_ACCESS_DENIED", "SSLV3_ALERT_HANDSHAKE_FAILURE")
# X509 verify codes: the chain does not lead to a CA we trust
_UNTRUSTED = (2, 7, 18, 19, 20, 21)
_NAME_MISMATCH = (62, 64)
_NOT_YET_VALID = 9


def _tls_failure(e, tls):
    """The one-line message of a TLS error `e` (an ssl.SSLError)."""
    if isinstance(e, ssl.SSLCertVerificationError):
        msg = "TLS: the broker's certificate was refused: certificate verify failed: %s" % (
            e.verify_message)
        if e.verify_code in _UNTRUSTED:
            msg += (" (the CAs of --cafile %s did not sign it)" % tls.cafile if tls.cafile
                    else " (give its CA with --cafile)")
        elif e.verify_code in _NAME_MISMATCH:
            msg += " (use a host name the certificate was made for)"
        elif e.verify_code == _NOT_YET_VALID:
            msg += " (is this computer's clock right?)"
        return msg
    reason = getattr(e, "reason", None)
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return "TLS: the broker requires a client certificate (give one with --cert and --key)"
    if reason in _CLIENT_CERT_ALERTS:
        if tls.cert:
            return "TLS: the broker refused the client certificate --cert %s: %s" % (
                tls.cert, ssl_text(e))
        return ("TLS: the broker refused the handshake: %s (it may require a client "
                "certificate: give one with --cert and --key)" % ssl_text(e))
    if reason == "WRONG_VERSION_NUMBER":
        return "TLS: the broker did not answer in TLS: %s (a plain mqtt:// port?)" % ssl_text(e)
    return "TLS: the handshake with the broker failed: %s" % ssl_text(e)


def _closed(url, tls, errors):
    """The message of a connection that ended before CONNACK."""
    alert = next((e for e in errors if isinstance(e, ssl.SSLError)
                  and not isinstance(e, ssl.SSLEOFError)), None)
    if alert is not None:
        return _tls_failure(alert, tls)
    if tls is None:
        return "no broker at %s: the connection was closed before CONNACK (a TLS port? then " \
               "mqtts://)" % url
    # Mosquitto refuses a client certificate (or its absence) after a TLS 1.3 handshake
    # by closing the connection, often without the alert that would say why
    if tls.cert:
        return ("TLS: the broker closed the connection after the handshake, before CONNACK: "
                "it may refuse the client certificate --cert %s (is it signed by a CA the "
                "broker trusts?)" % tls.cert)
    return ("TLS: the broker closed the connection after the handshake, before CONNACK: it "
            "may require a client certificate (give one with --cert and --key)")


def _recording_socket(errors):
    """An ssl.SSLSocket class that keeps the errors of its reads and writes in `errors`:
    paho only logs them, and a broker's alert (say, certificate required) comes there,
    after the client's side of a TLS 1.3 handshake is done."""

    def kept(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except OSError as e:
            errors.append(e)
            raise

    class RecordingSSLSocket(ssl.SSLSocket):
        def recv(self, *a, **kw):
            return kept(super().recv, *a, **kw)

        def send(self, *a, **kw):
            return kept(super().send, *a, **kw)

    return RecordingSSLSocket


def connect(url, on_message=None, timeout=5.0, tls=None):
    """A connected paho v5 client running its network loop in a thread. mqtts:// is TLS
    with `tls` (from tls_context; None: the system's CAs or $SSL_CERT_FILE). Connecting
    (TCP, TLS handshake, CONNACK) takes at most about `timeout` seconds; a failure is a
    CliError (exit code 1) naming it."""
    import paho.mqtt.client as paho

    parts, port = check_url(url)
    # no reconnecting: a failed connect ends at once, naming its cause (and a reconnected
    # session would have lost its subscriptions: no Session Expiry Interval is asked for)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                         client_id="fieldnode-cli-" + uuid.uuid4().hex[:8],
                         reconnect_on_failure=False)
    errors = []
    if parts.scheme == "mqtts":
        if tls is None:
            tls = TLS(ssl.create_default_context())
        tls.context.sslsocket_class = _recording_socket(errors)
        client.tls_set_context(tls.context)
    else:
        tls = None
    if parts.username:      # percent-encoded in the URL (%40 for an @, %2F for a /)
        client.username_pw_set(unquote(parts.username),
                               None if parts.password is None else unquote(parts.password))
    client.connect_timeout = timeout        # the TCP connect, and the TLS handshake
    done = threading.Event()
    result = []
    lost = []

    def on_connect(c, userdata, flags, reason_code, properties):
        result.append(reason_code)
        done.set()

    def on_disconnect(c, userdata, flags, reason_code, properties):
        if not result:
            lost.append(reason_code)
            done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    if on_message:
        client.on_message = on_message
    deadline = time.monotonic() + timeout
    try:
        client.connect(parts.hostname, port, keepalive=30)
    except ssl.SSLError as e:
        raise CliError(_tls_failure(e, tls)) from None
    except TimeoutError:
        raise CliError("no broker at %s: no answer within %.3gs" % (shown(url), timeout)) from None
    except OSError as e:
        if tls is not None and isinstance(e, ConnectionResetError):
            raise CliError("TLS: the broker closed the connection during the handshake "
                           "(a plain mqtt:// port?)") from None
        raise CliError("no broker at %s: %s" % (shown(url), e.strerror or e)) from None
    if not done.is_set():       # the CONNECT may have failed to go out already
        client.loop_start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        sock = client.socket()
        if sock is not None:    # wake the network thread from its select() at once
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        client.loop_stop()
        raise CliError("no broker at %s: no CONNACK within %.3gs" % (shown(url), timeout))
    if lost:
        client.loop_stop()
        raise CliError(_closed(shown(url), tls, errors))
    if result[0].is_failure:
        client.loop_stop()
        raise CliError("broker at %s refused the connection: %s" % (shown(url), result[0]))
    return client


def subscribe(client, topics, timeout=5.0):
    """Subscribe (QoS 1) and wait for the SUBACK, so nothing published after it is missed.
    A filter the broker refuses (a reason code of 0x80 or more: not authorized, say) is a
    CliError naming it: nothing would ever arrive on it."""
    done = threading.Event()
    codes = []

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        codes.extend(reason_codes)  # one per filter, in order (checked here, not in paho's thread)
        done.set()

    client.on_subscribe = on_subscribe
    client.subscribe([(t, 1) for t in topics])
    if not done.wait(timeout):
        raise CliError("the broker did not acknowledge the subscription within %.3gs"
                       % timeout)
    for topic, code in zip(topics, codes):
        if code.is_failure:
            raise CliError("the broker refused the subscription to %s: %s (0x%02X)"
                           % (topic, code, code.value))


def close(client):
    client.disconnect()
    client.loop_stop()
