"""MQTT v5 wire primitives (spec 1.5): Variable Byte Integers, two/four byte
integers, UTF-8 strings, binary data, topic checks and stream framing.

Decoders take a memoryview (or bytes) ``mv`` and explicit bounds and raise only
``ProtocolError``. Because every VBI must be minimal [MQTT-1.5.5-1], the number
of bytes a decoded VBI took is ``vbi_size(value)``: decoders return just the
value and never allocate a tuple. Encoders write into a caller's bytearray or
memoryview at an offset and return the offset after what they wrote.
"""
from mqtt5.errors import ProtocolError

_VBI_MAX = const(268435455)  # (private: packets and properties keep their own copy)
_MALFORMED = const(0x81)
_TOO_LARGE = const(0x95)


def vbi_size(n):
    """Bytes needed to encode ``n`` as a Variable Byte Integer (1..4)."""
    if n < 128:
        return 1
    if n < 16384:
        return 2
    if n < 2097152:
        return 3
    return 4


def encode_vbi(buf, off, n):
    """Write ``n`` (0..268435455) as a minimal VBI at ``buf[off]``; return the
    offset after it. ValueError when out of range (spec 1.5.5)."""
    if n < 0 or n > _VBI_MAX:
        raise ValueError("VBI out of range")
    while n > 127:
        buf[off] = (n & 0x7F) | 0x80
        n >>= 7
        off += 1
    buf[off] = n
    return off + 1


def decode_vbi(mv, off, end):
    """Decode the VBI at ``mv[off:end]``; its length is ``vbi_size(value)``.
    ProtocolError(0x81) when truncated, longer than 4 bytes (spec 1.5.5) or
    not minimal [MQTT-1.5.5-1]."""
    n = 0
    shift = 0
    i = off
    while True:
        if i >= end:
            raise ProtocolError(_MALFORMED, "truncated VBI")
        b = mv[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            # A last byte of 0 after a continuation is a longer-than-needed
            # encoding [MQTT-1.5.5-1].
            if b == 0 and i - off > 1:
                raise ProtocolError(_MALFORMED, "non-minimal VBI")
            return n
        shift += 7
        if shift == 28:  # at most four bytes (spec 1.5.5)
            raise ProtocolError(_MALFORMED, "VBI longer than 4 bytes")


def frame(buf, start, end, max_size):
    """Examine ``buf[start:end]`` for the next packet. Returns its total length
    (fixed header included) once the fixed header is complete; that may exceed
    ``end - start``. Returns ``-k`` while the fixed header itself is incomplete
    (at least k more bytes needed). Raises ProtocolError(0x81) for a bad
    Remaining Length VBI and ProtocolError(0x95) when the total exceeds
    ``max_size`` (None: no limit), before anything is allocated."""
    if end - start < 2:
        return end - start - 2
    total = buf[start + 1] + 2
    if total > 0x81:  # more than one byte of Remaining Length
        n = 0
        i = start + 1
        while True:
            if i >= end:
                return -1
            b = buf[i]
            n |= (b & 0x7F) << (7 * (i - start - 1))
            i += 1
            if not b & 0x80:
                if b == 0:
                    raise ProtocolError(_MALFORMED, "non-minimal remaining length")  # [MQTT-1.5.5-1]
                break
            if i - start > 4:
                raise ProtocolError(_MALFORMED, "remaining length over 4 bytes")  # spec 1.5.5
        total = i - start + n
    if max_size is not None and total > max_size:
        # The Maximum Packet Size counts the whole packet (3.1.2.11.4, 3.2.2.3.6).
        raise ProtocolError(_TOO_LARGE, "packet of %d bytes" % total)
    return total


def need(p, n, end):
    """ProtocolError(0x81) unless n bytes are available at p (before end)."""
    if p + n > end:
        raise ProtocolError(_MALFORMED, "truncated")


def u16(mv, p, end):
    """Two Byte Integer at p (spec 1.5.2), bounds checked."""
    if p + 2 > end:
        raise ProtocolError(_MALFORMED, "truncated")
    return mv[p] << 8 | mv[p + 1]


def blen(mv, p, end):
    """Length prefix of the UTF-8 string or binary data at p, checked to fit:
    the data is ``mv[p + 2:p + 2 + n]`` (spec 1.5.4, 1.5.6)."""
    n = u16(mv, p, end)
    if p + 2 + n > end:
        raise ProtocolError(_MALFORMED, "truncated string")
    return n


def utf8_ok(mv):
    """True when bytes-like ``mv`` is well-formed UTF-8 (RFC 3629: no overlongs, no
    surrogates U+D800..U+DFFF, nothing above U+10FFFF) [MQTT-1.5.4-1] and has no
    U+0000 [MQTT-1.5.4-2]. A BOM is kept as U+FEFF [MQTT-1.5.4-3]."""
    end = len(mv)
    if not end or min(mv) and max(mv) < 0x80:  # ASCII without U+0000: checked in C
        return True
    i = 0
    while i < end:
        c = mv[i]
        if c < 0x80:
            if c == 0:
                return False
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            n = 1
        elif c == 0xE0:
            n = 2
            lo = 0xA0
        elif c == 0xED:
            n = 2
            hi = 0x9F
        elif 0xE1 <= c <= 0xEF:
            n = 2
        elif c == 0xF0:
            n = 3
            lo = 0x90
        elif 0xF1 <= c <= 0xF3:
            n = 3
        elif c == 0xF4:
            n = 3
            hi = 0x8F
        else:
            return False
        if i + n >= end:  # truncated sequence
            return False
        c = mv[i + 1]
        if c < lo or c > hi:
            return False
        for j in range(i + 2, i + n + 1):
            if mv[j] & 0xC0 != 0x80:
                return False
        i += n + 1
    return True


def utf8(mv, a, b):
    """Decode ``mv[a:b]`` as a strict MQTT UTF-8 string; ProtocolError(0x81) if
    ill-formed or containing U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2]."""
    v = mv[a:b]
    if not utf8_ok(v):
        raise ProtocolError(_MALFORMED, "bad UTF-8")
    try:
        return str(v, "utf-8")
    except Exception:  # defensive: utf8_ok already proved it decodes
        raise ProtocolError(_MALFORMED, "bad UTF-8")


def is_buffer(x):
    """True for bytes, bytearray or memoryview. (A tuple of types built at
    call time would allocate on MicroPython; chained checks do not.)"""
    return isinstance(x, bytes) or isinstance(x, bytearray) or isinstance(x, memoryview)


def payload_bytes(p):
    """An application message's payload as bytes-like: a str is encoded as UTF-8;
    TypeError for anything but bytes, bytearray, memoryview or str."""
    t = type(p)
    if t is bytes or t is bytearray or t is memoryview:  # (the usual: no calls)
        return p
    if isinstance(p, str):
        return p.encode()
    if not is_buffer(p):
        raise TypeError("payload must be bytes, bytearray, memoryview or str, not %s"
                        % type(p).__name__)
    return p


def to_utf8(s):
    """Bytes-like UTF-8 of ``s`` (str, bytes, bytearray or memoryview) to send,
    checked as ``utf8_ok`` and for the code points a sender should not send (spec
    1.5.4): U+0001..U+001F, U+007F..U+009F and the non-characters. A broker may take
    them as a Malformed Packet (Mosquitto does), and a QoS 1 message with one, resent
    at every reconnect, would keep the link from staying up. ValueError for those, and
    when longer than 65535 bytes."""
    if isinstance(s, str):
        try:
            s = s.encode("utf-8")
        except Exception:  # lone surrogates on CPython
            raise ValueError("string not encodable as UTF-8")
    elif not is_buffer(s):
        raise ValueError("expected str or bytes")
    n = len(s)
    if n > 65535 or not utf8_ok(s):
        raise ValueError("invalid MQTT UTF-8 string")
    if n and (min(s) < 0x20 or max(s) > 0x7E):  # (printable ASCII: checked in C)
        i = 0
        for ch in str(s, "utf-8"):
            o = ord(ch)
            if o < 0x20 or 0x7F <= o <= 0x9F or 0xFDD0 <= o <= 0xFDEF or o & 0xFFFE == 0xFFFE:
                raise ValueError("U+%04X at character %d of an MQTT string: a control "
                                 "character or non-character (spec 1.5.4)" % (o, i))
            i += 1
    return s


def bin_len(data):
    """Length of binary data (bytes-like, at most 65535: spec 1.5.6)."""
    if not is_buffer(data):
        raise ValueError("expected bytes")
    n = len(data)
    if n > 65535:
        raise ValueError("binary data over 65535 bytes")
    return n


def put_u16(buf, off, v):
    """Write a Two Byte Integer; return the offset after it."""
    buf[off] = (v >> 8) & 0xFF
    buf[off + 1] = v & 0xFF
    return off + 2


def put_lbytes(buf, off, data):
    """Write ``data`` with its two-byte length prefix (UTF-8 string already
    converted by ``to_utf8``, or binary data); return the offset after it."""
    n = len(data)
    off = put_u16(buf, off, n)
    buf[off:off + n] = data
    return off + n


def check_str(s, what):
    """TypeError unless ``s`` is a str; ValueError when empty, longer than 65535
    or holding U+0000 (spec 1.5.4, [MQTT-4.7.3-1]); ``what`` names it."""
    if not isinstance(s, str):
        raise TypeError(what + " must be str")
    n = len(s)
    if n == 0 or n > 65535 or "\x00" in s:  # quoted up to 40 characters, not 70 KB
        raise ValueError("invalid %s of %d characters: %r" % (what, n, s[:40]))


def validate_topic(topic):
    """Raise ValueError unless `topic` is a valid topic name (no wildcards
    [MQTT-3.3.2-2]); TypeError unless it is a str."""
    if type(topic) is not str or not topic or len(topic) > 65535 or "\x00" in topic:
        check_str(topic, "topic")  # (raises, naming what is wrong; a str subclass passes)
    if "+" in topic or "#" in topic:
        raise ValueError("wildcard in topic name: %r" % topic)
    return topic


def topic_name_ok(s):
    """True when topic name ``s`` (str) has no wildcard [MQTT-3.3.2-2]
    [MQTT-4.7.0-1]; the
    caller decides whether "" is allowed [MQTT-4.7.3-1]."""
    return "+" not in s and "#" not in s
