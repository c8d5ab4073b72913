"""Binary payload schema v1 of readings and events (docs/payload.md, byte by byte).

Shared by the firmware (MicroPython) and host tools and tests (CPython):

    n = encode_reading(buf, seq, value, exp)          # into the caller's bytearray
    n = encode_reading(buf, seq, value, exp, time_s)  # a reading sent late
    n = encode_event(buf, seq, time_s, code, value, exp)
    decode(buf) -> {"version": 1, "seq": 7, "time": None, "code": None,
                    "values": [(2137, -2)]}           # PayloadError when bad

Layout: version u8 (1), sequence number u16 big-endian, then typed fields to the
end, each a tag byte and a big-endian value. The tag's high nibble is the type,
its low nibble the power of ten of one step plus 8 (fixed point: 2137 with
exponent -2 is 21.37), so no floats travel. No allocation on encode.
"""

VERSION = 1
CT_READING = "fieldnode/reading;v=1"
CT_EVENT = "fieldnode/event;v=1"

# field types (tag high nibble)
T_I16 = 0x10
T_I32 = 0x20
T_TIME = 0x30  # u32 seconds since boot when the data was taken
T_CODE = 0x40  # u8 event code

# event codes
EV_BUTTON = 1
EV_HIGH = 2
EV_LOW = 3
EV_NORMAL = 4
EVENT_NAMES = {EV_BUTTON: "button", EV_HIGH: "high", EV_LOW: "low", EV_NORMAL: "normal"}

MAX_SIZE = 16  # holds the largest payload encode_* writes (15 B: an event with an i32 value)
_SIZES = {T_I16: 2, T_I32: 4, T_TIME: 4, T_CODE: 1}


class PayloadError(ValueError):
    """A payload that is not schema v1: truncated, foreign or from a newer version."""


def _put(buf, i, v, n):
    # big-endian, n bytes, two's complement for negatives
    for k in range(n - 1, -1, -1):
        buf[i + k] = v & 0xFF
        v >>= 8
    return i + n


def _value(buf, i, value, exp):
    if exp < -8 or exp > 7:
        raise ValueError("exponent out of -8..7")
    if -32768 <= value <= 32767:
        buf[i] = T_I16 | (exp + 8)
        return _put(buf, i + 1, value, 2)
    if -2147483648 <= value <= 2147483647:
        buf[i] = T_I32 | (exp + 8)
        return _put(buf, i + 1, value, 4)
    raise ValueError("value out of the 32-bit range")


def _head(buf, seq):
    buf[0] = VERSION
    return _put(buf, 1, seq & 0xFFFF, 2)


def _time(buf, i, time_s):
    buf[i] = T_TIME
    return _put(buf, i + 1, time_s & 0xFFFFFFFF, 4)


def encode_reading(buf, seq, value, exp, time_s=None):
    """Write a reading into `buf` (>= MAX_SIZE bytes); returns its length.

    `time_s` (seconds since boot when taken) is written only for a reading
    published later than it was taken; a live one omits it (6 bytes in all with an
    INT16 value, 8 with an INT32)."""
    i = _head(buf, seq)
    if time_s is not None:
        i = _time(buf, i, time_s)
    return _value(buf, i, value, exp)


def encode_event(buf, seq, time_s, code, value=None, exp=0):
    """Write an event (time, code, optional value) into `buf`; returns its length."""
    i = _time(buf, _head(buf, seq), time_s)
    buf[i] = T_CODE
    buf[i + 1] = code
    i += 2
    if value is not None:
        i = _value(buf, i, value, exp)
    return i


def _get(buf, i, n, signed):
    v = 0
    for k in range(n):
        v = (v << 8) | buf[i + k]
    if signed and v >> (8 * n - 1):
        v -= 1 << (8 * n)
    return v


def decode(buf):
    """Parse a v1 payload (bytes, bytearray or memoryview) into a dict:
    version, seq, time (None if absent), code (None if absent), values (list of
    (int, exponent)). Raises PayloadError naming what is wrong."""
    n = len(buf)
    if n < 3:
        raise PayloadError("truncated payload: %d bytes, a v1 header needs 3" % n)
    if buf[0] != VERSION:
        raise PayloadError("not a fieldnode v1 payload: version byte %d" % buf[0])
    out = {"version": VERSION, "seq": _get(buf, 1, 2, False), "time": None, "code": None,
           "values": []}
    i = 3
    while i < n:
        tag = buf[i]
        t = tag & 0xF0
        size = _SIZES.get(t)
        if size is None or (t >= T_TIME and tag != t):  # TIME, CODE: low nibble 0
            raise PayloadError("unknown field tag 0x%02x at byte %d" % (tag, i))
        if i + 1 + size > n:
            raise PayloadError("truncated field at byte %d: needs %d bytes, %d left"
                               % (i, size, n - i - 1))
        if t == T_TIME:
            out["time"] = _get(buf, i + 1, 4, False)
        elif t == T_CODE:
            out["code"] = buf[i + 1]
        else:
            out["values"].append((_get(buf, i + 1, size, True), (tag & 0x0F) - 8))
        i += 1 + size
    return out


def fixed(value, exp):
    """A fixed-point value as decimal text without floats: fixed(2137, -2) -> '21.37'."""
    if exp >= 0:
        return str(value * 10 ** exp)
    sign = "-" if value < 0 else ""
    s = str(abs(value))
    d = -exp
    s = "0" * (d + 1 - len(s)) + s if len(s) <= d else s
    return sign + s[:-d] + "." + s[-d:]
