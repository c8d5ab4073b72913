"""Enhanced authentication (spec 4.12), imported only by sessions given an
``auth_method``.

The authenticator is any object with:

- ``start()`` -> bytes or None: the initial Authentication Data, sent in CONNECT and
  in the AUTH 0x19 that starts a re-authentication;
- ``step(data)`` -> bytes or None: the response to the server's challenge ``data``
  (bytes or None) of an AUTH 0x18 Continue authentication [MQTT-4.12.0-3];
- optionally ``finish(data)``: called with the Authentication Data of the CONNACK or
  AUTH 0x00 that completes an exchange (e.g. to verify a server signature); raising
  there refuses the server: DISCONNECT 0x80 (0x87 Not authorized is a server's code:
  the ERROR event's error says 0x87).

An exception from the authenticator during an exchange closes the connection with
DISCONNECT 0x80 and an ERROR event whose error is 0x87 Not authorized
[MQTT-4.12.1-2]. ``start()`` raising before anything is sent is not an exchange: at
connect() it is a ProtocolError 0x87 raised from there; at reauthenticate() its
exception goes to the caller, nothing sent, and the connection stays as it was.
"""

from .errors import MQTTError, ProtocolError
import mqtt5.packets as _p
import mqtt5.backlog as _bl  # (its writer of packet objects: fit())

_AUTHENTICATION_METHOD = const(0x15)
_AUTHENTICATION_DATA = const(0x16)

_REAUTHENTICATED = const(9)
_ESTABLISHED = const(2)


_CONTINUE = const(0x18)
_REAUTH = const(0x19)
_NOT_AUTHORIZED = const(0x87)


def connect_props(s, props):
    """Add Authentication Method and Data to the CONNECT props (spec 3.1.2.11.9)."""
    props[_AUTHENTICATION_METHOD] = s.auth_method
    data = _call(s.authenticator.start)
    if data is not None:
        props[_AUTHENTICATION_DATA] = data


def _call(fn, *args):
    try:
        return fn(*args)
    except ProtocolError:
        raise
    except Exception as e:  # the authenticator refused: Not authorized
        raise ProtocolError(_NOT_AUTHORIZED, "authenticator: %r" % (e,))


def _method(s, props, what):
    # [MQTT-4.12.0-5]: the same Authentication Method in every AUTH and CONNACK
    if props.get(_AUTHENTICATION_METHOD) != s.auth_method:
        raise ProtocolError(0x82, "%s Authentication Method differs from CONNECT" % what)


def on_connack(s, props):
    """A successful CONNACK: check the method, hand the final data to finish()."""
    _method(s, props, "CONNACK")
    _finish(s, props)


def _finish(s, props):
    f = getattr(s.authenticator, "finish", None)
    if f is not None:
        _call(f, props.get(_AUTHENTICATION_DATA))


def _send(s, rc, data):
    props = {_AUTHENTICATION_METHOD: s.auth_method}
    if data is not None:
        props[_AUTHENTICATION_DATA] = data
    try:
        _bl.fit(s, _p.Auth(reason_code=rc, props=props))
    except ProtocolError:
        raise
    except MQTTError as e:  # cannot be sent (tx_size, server maximum): give up
        raise ProtocolError(0x83, "AUTH answer: %s" % e)


def on_auth(s, pkt):
    """AUTH from the server; True when s._ev was filled (REAUTHENTICATED)."""
    if s.auth_method is None:  # we sent no method [MQTT-4.12.0-6]
        raise ProtocolError(0x82, "AUTH without an Authentication Method in CONNECT")
    props = pkt.props or {}
    _method(s, props, "AUTH")
    rc = pkt.reason_code
    if rc == _CONTINUE:  # [MQTT-4.12.0-2]: answer with 0x18 [MQTT-4.12.0-3]
        if s.state == _ESTABLISHED and not s.reauthenticating:
            raise ProtocolError(0x82, "AUTH 0x18 outside an authentication exchange")
        _send(s, _CONTINUE, _call(s.authenticator.step,
                                  props.get(_AUTHENTICATION_DATA)))
        return False
    if rc == 0 and s.state == _ESTABLISHED and s.reauthenticating:  # spec 4.12.1
        s.reauthenticating = False
        _finish(s, props)
        ev = s._ev
        ev._clear(_REAUTHENTICATED)
        ev.packet, ev.props = pkt, pkt.props
        return True
    # 0x00 outside a re-authentication, or 0x19: only the client starts one
    raise ProtocolError(0x82, "unexpected AUTH 0x%02X" % rc)


def reauthenticate(s):
    """Session.reauthenticate (see there)."""
    if s.auth_method is None:
        raise MQTTError("no auth_method: AUTH not allowed [MQTT-4.12.0-7]")
    if s.state != _ESTABLISHED:
        raise MQTTError("not connected")
    if s.reauthenticating:
        raise MQTTError("re-authentication in progress")
    _send(s, _REAUTH, s.authenticator.start())  # [MQTT-4.12.1-1]
    s.reauthenticating = True
