"""MQTT v5 reason codes (spec 2.4, Table 2-6): names and per-packet validity.

Loaded only to name a code (errors, logs): the validity table the codec checks
every reason code against lives in mqtt5.codec (``rc_allowed``, re-exported by
mqtt5.packets and here as ``allowed``). ``name(code, ptype=None)`` gives the spec's
name; 0x00 is "Success", "Normal disconnection" for DISCONNECT and "Granted QoS 0"
for SUBACK.
``allowed(code, ptype)`` says whether the spec lets that packet carry the code.
"""
from mqtt5.packets import rc_allowed as allowed, rc_row as _row  # noqa: F401 (API)

SUCCESS = const(0x00)
NORMAL_DISCONNECTION = const(0x00)
GRANTED_QOS_0 = const(0x00)
GRANTED_QOS_1 = const(0x01)
GRANTED_QOS_2 = const(0x02)
DISCONNECT_WITH_WILL = const(0x04)
NO_MATCHING_SUBSCRIBERS = const(0x10)
NO_SUBSCRIPTION_EXISTED = const(0x11)
CONTINUE_AUTHENTICATION = const(0x18)
RE_AUTHENTICATE = const(0x19)
UNSPECIFIED_ERROR = const(0x80)
MALFORMED_PACKET = const(0x81)
PROTOCOL_ERROR = const(0x82)
IMPLEMENTATION_SPECIFIC_ERROR = const(0x83)
UNSUPPORTED_PROTOCOL_VERSION = const(0x84)
CLIENT_IDENTIFIER_NOT_VALID = const(0x85)
BAD_USER_NAME_OR_PASSWORD = const(0x86)
NOT_AUTHORIZED = const(0x87)
SERVER_UNAVAILABLE = const(0x88)
SERVER_BUSY = const(0x89)
BANNED = const(0x8A)
SERVER_SHUTTING_DOWN = const(0x8B)
BAD_AUTHENTICATION_METHOD = const(0x8C)
KEEP_ALIVE_TIMEOUT = const(0x8D)
SESSION_TAKEN_OVER = const(0x8E)
TOPIC_FILTER_INVALID = const(0x8F)
TOPIC_NAME_INVALID = const(0x90)
PACKET_IDENTIFIER_IN_USE = const(0x91)
PACKET_IDENTIFIER_NOT_FOUND = const(0x92)
RECEIVE_MAXIMUM_EXCEEDED = const(0x93)
TOPIC_ALIAS_INVALID = const(0x94)
PACKET_TOO_LARGE = const(0x95)
MESSAGE_RATE_TOO_HIGH = const(0x96)
QUOTA_EXCEEDED = const(0x97)
ADMINISTRATIVE_ACTION = const(0x98)
PAYLOAD_FORMAT_INVALID = const(0x99)
RETAIN_NOT_SUPPORTED = const(0x9A)
QOS_NOT_SUPPORTED = const(0x9B)
USE_ANOTHER_SERVER = const(0x9C)
SERVER_MOVED = const(0x9D)
SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = const(0x9E)
CONNECTION_RATE_EXCEEDED = const(0x9F)
MAXIMUM_CONNECT_TIME = const(0xA0)
SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = const(0xA1)
WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = const(0xA2)

_DISCONNECT = const(14)
_SUBACK = const(9)

# Names in row order, '|' separated.
_TEXT = ("Success|Granted QoS 1|Granted QoS 2|Disconnect with Will Message|"
         "No matching subscribers|No subscription existed|Continue authentication|"
         "Re-authenticate|Unspecified error|Malformed Packet|Protocol Error|"
         "Implementation specific error|Unsupported Protocol Version|"
         "Client Identifier not valid|Bad User Name or Password|Not authorized|"
         "Server unavailable|Server busy|Banned|Server shutting down|"
         "Bad authentication method|Keep Alive timeout|Session taken over|"
         "Topic Filter invalid|Topic Name invalid|Packet Identifier in use|"
         "Packet Identifier not found|Receive Maximum exceeded|Topic Alias invalid|"
         "Packet too large|Message rate too high|Quota exceeded|Administrative action|"
         "Payload format invalid|Retain not supported|QoS not supported|"
         "Use another server|Server moved|Shared Subscriptions not supported|"
         "Connection rate exceeded|Maximum connect time|"
         "Subscription Identifiers not supported|Wildcard Subscriptions not supported")


def name(code, ptype=None):
    """The spec's name of reason ``code``; ``ptype`` (packet type int) picks the
    per-packet name of 0x00. Unknown codes give "Unknown reason code 0xNN"."""
    if code == 0:
        if ptype == _DISCONNECT:
            return "Normal disconnection"
        if ptype == _SUBACK:
            return "Granted QoS 0"
    r = _row(code)
    if r < 0:
        return "Unknown reason code 0x%02X" % code
    a = 0
    while r:
        a = _TEXT.find("|", a) + 1
        r -= 1
    b = _TEXT.find("|", a)
    return _TEXT[a:] if b < 0 else _TEXT[a:b]


def rc_error(what, code):
    """MQTTError naming a failing reason code, e.g. 'PUBACK 0x87 Not authorized'."""
    from .errors import MQTTError  # (error path only: no name kept by the module)

    e = MQTTError("%s 0x%02X %s" % (what, code, name(code)))
    e.reason_code = code
    return e
