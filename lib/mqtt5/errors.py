"""Exceptions of the MQTT v5 library.

Every violation found while decoding raises ``ProtocolError`` carrying the v5
reason code to disconnect with (0x81 Malformed Packet, 0x82 Protocol Error,
0x95 Packet too large, ...); no other exception type escapes a decode.
"""


class MQTTError(Exception):
    """Base class of every error raised by the mqtt5 library."""


class ProtocolError(MQTTError):
    """A protocol violation; ``.reason_code`` is the v5 reason code (int) to send
    in DISCONNECT/CONNACK, ``.msg`` a short detail (or None). ``str()`` shows
    the code, its name (looked up lazily) and the detail."""

    def __init__(self, reason_code, msg=None):
        super().__init__(reason_code, msg)
        self.reason_code = reason_code
        self.msg = msg

    def __str__(self):
        from mqtt5.reason_codes import name
        s = "0x%02X %s" % (self.reason_code, name(self.reason_code))
        if self.msg:
            s += ": " + self.msg
        return s
