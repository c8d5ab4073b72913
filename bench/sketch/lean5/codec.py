# lean5.codec: the client-side MQTT v5 packets a basic node uses, as pure functions
# over bytearray and memoryview (a sizing sketch of issue 11's core; bench/sketch/README.md).
# Encoders write into a caller's buffer at an offset and return the end; decoders read
# a memoryview between two offsets and raise ProtocolError with the v5 reason code.
from mqtt5.errors import ProtocolError

_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)

# v5 property id -> type (2.2.2.2): 1 byte, 2 two-byte int, 4 four-byte int, V variable
# byte integer, S UTF-8 string, B binary data, P string pair; "-" no such property
_TYPES = b"-14S----SB-V-----4S2-SB141S-S--S-22211P4111"
# property id -> the packets it may appear in (bits: 1 CONNACK, 2 PUBLISH, 4 PUBACK and
# SUBACK, 8 DISCONNECT), from the table of spec 2.2.2.2
_WHERE = (b"\x00\x02\x02\x02\x00\x00\x00\x00\x02\x02\x00\x02\x00\x00\x00\x00\x00\x09"
          b"\x01\x01\x00\x01\x01\x00\x00\x00\x01\x00\x09\x00\x00\x0d\x00\x01\x01\x02\x01"
          b"\x01\x0f\x01\x01\x01\x01")


def put_vbi(buf, i, n):
    """Variable byte integer n at buf[i]; returns the end (1.5.5)."""
    while True:
        b = n & 0x7F
        n >>= 7
        buf[i] = b | 0x80 if n else b
        i += 1
        if not n:
            return i


def put_str(buf, i, s):
    """Two-byte length and the bytes of s (str or bytes); returns the end (1.5.4)."""
    if isinstance(s, str):
        s = s.encode()
    n = len(s)
    if n > 0xFFFF:
        raise ValueError("string over 65,535 bytes")
    buf[i] = n >> 8
    buf[i + 1] = n & 0xFF
    buf[i + 2:i + 2 + n] = s
    return i + 2 + n


def get_vbi(mv, i, end):
    """(value, next offset) of the variable byte integer at mv[i]; None when the
    bytes stop first (a partial frame); 0x81 past four bytes [MQTT-1.5.5-1]."""
    n = 0
    shift = 0
    while i < end:
        b = mv[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        if shift > 21:
            raise ProtocolError(_MALFORMED, "variable byte integer over 4 bytes")
    return None


def get_str(mv, i, end, text=True):
    """(str or bytes, next offset) of a two-byte-length field at mv[i]; UTF-8 is
    checked as 1.5.4 asks (no U+0000, no surrogates, no overlongs) [MQTT-1.5.4-1..2]."""
    if i + 2 > end:
        raise ProtocolError(_MALFORMED, "field runs past the packet")
    j = i + 2 + (mv[i] << 8 | mv[i + 1])
    if j > end:
        raise ProtocolError(_MALFORMED, "field runs past the packet")
    b = bytes(mv[i + 2:j])
    if not text:
        return b, j
    k = 0
    n = len(b)
    while k < n:  # a UTF-8 walk: the first byte says the length, the rest 10xxxxxx
        c = b[k]
        if c < 0x80:
            if not c:
                break
            k += 1
            continue
        m = 1 if c >> 5 == 6 else 2 if c >> 4 == 14 else 3 if c >> 3 == 30 else 0
        if not m or k + m >= n:
            break
        v = c & (0x3F >> m)
        for x in b[k + 1:k + 1 + m]:
            if x >> 6 != 2:
                v = -1
                break
            v = v << 6 | x & 0x3F
        if v < (0x80, 0x800, 0x10000)[m - 1] or 0xD800 <= v <= 0xDFFF or v > 0x10FFFF:
            break
        k += 1 + m
    if k < n:
        raise ProtocolError(_MALFORMED, "not well-formed UTF-8")
    return str(b, "utf-8"), j


def get_props(mv, i, end, where):
    """(dict id -> value or None, next offset) of the property block at mv[i], for a
    packet of kind ``where`` (a _WHERE bit).  User properties (0x26) gather in a list
    of pairs; any other property twice is a Protocol Error (spec 2.2.2.2)."""
    r = get_vbi(mv, i, end)
    if r is None:
        raise ProtocolError(_MALFORMED, "property length runs past the packet")
    n, i = r
    stop = i + n
    if stop > end:
        raise ProtocolError(_MALFORMED, "properties run past the packet")
    if i == stop:
        return None, i
    d = {}
    while i < stop:
        pid = mv[i]
        i += 1
        t = _TYPES[pid] if pid < len(_TYPES) else 45
        if t == 45 or not _WHERE[pid] & where:
            raise ProtocolError(_PROTOCOL if t != 45 else _MALFORMED,
                                "property 0x%02X not allowed here" % pid)
        if t == 80:  # "P": a name and a value, gathered in a list
            k, i = get_str(mv, i, stop)
            v, i = get_str(mv, i, stop)
            d.setdefault(0x26, []).append((k, v))
            continue
        if t == 86:  # "V": a Subscription Identifier, one per matching subscription
            r = get_vbi(mv, i, stop)
            if r is None or not r[0]:
                raise ProtocolError(_MALFORMED if r is None else _PROTOCOL,
                                    "bad subscription identifier")
            d.setdefault(0x0B, []).append(r[0])
            i = r[1]
            continue
        if t == 83 or t == 66:  # "S", "B"
            v, i = get_str(mv, i, stop, t == 83)
        else:  # "1", "2", "4": big-endian integers
            k = t - 48
            if i + k > stop:
                raise ProtocolError(_MALFORMED, "property runs past its block")
            v = 0
            for x in mv[i:i + k]:
                v = v << 8 | x
            i += k
        if pid in d:
            raise ProtocolError(_PROTOCOL, "property 0x%02X twice" % pid)
        d[pid] = v
    return d, i


def connect(buf, client_id, keepalive, clean, expiry, max_in, recv_max, will, user,
            password):
    """CONNECT into buf from offset 5 (room for the fixed header); returns (start, end)
    of the whole packet (3.1).  will: None or (topic, payload, qos, retain)."""
    i = put_str(buf, 5, "MQTT")
    buf[i] = 5
    f = (2 if clean else 0) | (0x80 if user is not None else 0) | \
        (0x40 if password is not None else 0)
    if will:
        f |= 4 | will[2] << 3 | (0x20 if will[3] else 0)
    buf[i + 1] = f
    buf[i + 2] = keepalive >> 8
    buf[i + 3] = keepalive & 0xFF
    # properties: Maximum Packet Size (0x27) [MQTT-3.1.2-24], Receive Maximum (0x21)
    # [MQTT-3.3.4-9]; Session Expiry (0x11)
    buf[i + 4:i + 13] = b"\x08\x27" + max_in.to_bytes(4, "big") + b"\x21" + \
        recv_max.to_bytes(2, "big")
    i += 13
    if expiry:
        buf[i - 9] = 13
        buf[i:i + 5] = b"\x11" + expiry.to_bytes(4, "big")
        i += 5
    i = put_str(buf, i, client_id)
    if will:
        buf[i] = 0  # no will properties
        i = put_str(buf, put_str(buf, i + 1, will[0]), will[1])
    if user is not None:
        i = put_str(buf, i, user)
    if password is not None:
        i = put_str(buf, i, password)
    return header(buf, 0x10, 5, i), i


def header(buf, first, start, end):
    """Write the fixed header of the body buf[start:end] just before it; returns
    where the packet starts (2.1.1)."""
    n = end - start
    k = 1 if n < 128 else 2 if n < 16384 else 3 if n < 2097152 else 4
    s = start - 1 - k
    buf[s] = first
    put_vbi(buf, s + 1, n)
    return s


def publish(buf, first, topic, payload, pid):
    """A whole PUBLISH (3.3) from buf[0] (topic: its UTF-8 bytes; first: the type and
    flags byte, 3.3.1); returns its end.  buf must hold len(topic) + len(payload) + 12."""
    t = len(topic)
    n = len(payload)
    body = t + n + (5 if first & 6 else 3)
    if body < 128:
        buf[1] = body
        i = 2
    else:
        i = put_vbi(buf, 1, body)
    buf[0] = first
    buf[i] = t >> 8
    buf[i + 1] = t & 0xFF
    i += 2
    buf[i:i + t] = topic
    i += t
    if first & 6:
        buf[i] = pid >> 8
        buf[i + 1] = pid & 0xFF
        i += 2
    buf[i] = 0  # no properties
    buf[i + 1:i + 1 + n] = payload
    return i + 1 + n


def subscribe(buf, pid, filters):
    """SUBSCRIBE of [(filter, options byte), ...] into buf from offset 5 (3.8); the
    options byte: QoS, No Local 4, Retain As Published 8, Retain Handling << 4."""
    buf[5] = pid >> 8
    buf[6] = pid & 0xFF
    buf[7] = 0
    i = 8
    for f, o in filters:
        i = put_str(buf, i, f)
        buf[i] = o
        i += 1
    return header(buf, 0x82, 5, i), i


def size(n, *fields):
    """Bytes a packet of these str/bytes fields takes at most, with n bytes of fixed-size
    parts and room for the fixed header (what its buffer must hold)."""
    n += 5
    for f in fields:
        n += len(f) * (3 if isinstance(f, str) else 1) + 2
    return n


def topic_ok(t):
    """A Topic Name: 1..65,535 bytes, no wildcard, no U+0000 [MQTT-4.7.3-1]
    [MQTT-4.7.3-2] [MQTT-3.3.2-2]."""
    return 0 < len(t) and "+" not in t and "#" not in t and "\x00" not in t


def filter_ok(f):
    """A Topic Filter: not empty, "#" only as the last level, "+" only as a whole level,
    no U+0000 [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] [MQTT-4.7.3-2]."""
    if not f or "\x00" in f:
        return False
    levels = f.split("/")
    for k, lv in enumerate(levels):
        if ("#" in lv or "+" in lv) and len(lv) > 1 or lv == "#" and k < len(levels) - 1:
            return False
    return True
