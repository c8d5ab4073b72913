"""Malformed corpus and seeded mutation fuzzing of the decoder, runtime
neutral: only ProtocolError may come out of decode() and frame(); whatever
decodes must re-encode and decode to the same fields.

    codec_fuzz.py [cases] [seed]     (defaults 3000, 1)

Prints {"script": "codec_fuzz", "ok": N, "cases": M, "failures": [...]}."""
import json
import sys

import mqtt5.packets as P
import mqtt5.wire as wire
from mqtt5.errors import ProtocolError
from codec_cases import VECTORS, MALFORMED, h, fields, reheader

CASES = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
_seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
ok = 0
cases = 0
failures = []


def rnd(n):
    """xorshift32, the same sequence on both runtimes."""
    global _seed
    x = _seed & 0xFFFFFFFF
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    _seed = x
    return x % n


def tolerated(text):
    # What the decoder takes on receipt and the encoder never sends: a string with a
    # control character or non-character (spec 1.5.4); a Response Topic that is no
    # Topic Name (the rule binds its sender [MQTT-3.3.2-14]: mqtt5.properties); 0x95
    # Packet too large in PUBACK/PUBREC, Mosquitto 2.0's answer to an oversize
    # message (mqtt5.codec.read_rc)
    return ("control character or non-character" in text
            or text == "invalid Response Topic"
            or text in ("reason code 0x95 not allowed in packet type 4",
                        "reason code 0x95 not allowed in packet type 5"))


def probe(data, what):
    """Decode ``data``; only ProtocolError allowed; a success must round trip."""
    global ok, cases
    cases += 1
    try:
        t = wire.frame(data, 0, len(data), 1 << 28)
        d = P.decode(memoryview(data))
    except ProtocolError:
        ok += 1
        return False
    except Exception as e:  # noqa: BLE001
        failures.append("%s: %r" % (what, e))
        return False
    try:
        again = P.encode(d)
        if t != len(data) or fields(P.decode(again)) != fields(d):
            failures.append("%s: round trip differs" % what)
            return True
    except Exception as e:  # noqa: BLE001
        if isinstance(e, ValueError) and tolerated(str(e)):
            ok += 1
        else:
            failures.append("%s: decoded but re-encode failed: %r" % (what, e))
        return True
    ok += 1
    return True


# 1. The malformed corpus: each raises ProtocolError with the expected code.
for name, hx, code in MALFORMED:
    cases += 1
    try:
        P.decode(h(hx))
        failures.append("accepted: " + name)
    except ProtocolError as e:
        if e.reason_code == code:
            ok += 1
        else:
            failures.append("%s: reason 0x%02X, expected 0x%02X" % (name, e.reason_code, code))
    except Exception as e:  # noqa: BLE001
        failures.append("%s: %r" % (name, e))

accepted = 0
for name, make, hx in VECTORS:
    data = h(hx)
    hl = 1 + wire.vbi_size(wire.decode_vbi(data, 1, len(data)))
    body = data[hl:]
    # 2. Truncation at every offset: as is (Remaining Length now wrong), and
    #    with the Remaining Length rewritten to the shorter body.
    for k in range(len(data)):
        cases += 1
        try:
            P.decode(data[:k])
            failures.append("truncated %s at %d accepted" % (name, k))
        except ProtocolError:
            ok += 1
        except Exception as e:  # noqa: BLE001
            failures.append("truncated %s at %d: %r" % (name, k, e))
    for k in range(len(body)):
        accepted += probe(reheader(data[0], body[:k]), "cut %s at %d" % (name, k))
    # 3. Every single bit flipped, raw and with the Remaining Length fixed.
    for i in range(len(data)):
        for b in range(8):
            m = bytearray(data)
            m[i] ^= 1 << b
            accepted += probe(bytes(m), "flip %s byte %d bit %d" % (name, i, b))
            if i >= hl:
                accepted += probe(reheader(m[0], m[hl:]), "flip+rl %s %d.%d" % (name, i, b))
    # 4. Overlong / 5-byte Remaining Length encodings of the same packet.
    for pre in (b"\x80\x80\x80\x80\x00", b"\xff\xff\xff\xff\x7f"):
        accepted += probe(bytes(data[:1]) + pre + body, "vbi %s" % name)
    m = bytearray(data[:1]) + bytearray([(len(body) & 0x7F) | 0x80, 0x00]) + body
    if len(body) < 128:
        accepted += probe(bytes(m), "overlong rl %s" % name)

# 5. Seeded random mutations: replace, insert, delete, duplicate a slice,
#    boundary bytes; half of them with the Remaining Length rewritten.
interesting = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x23, 0x2B, 0xC0, 0xED, 0xF4, 0x26, 0x0B)
n0 = cases
i = 0
while cases - n0 < CASES:
    name, make, hx = VECTORS[rnd(len(VECTORS))]
    m = bytearray(h(hx))
    for _ in range(1 + rnd(4)):
        op = rnd(5)
        pos = rnd(len(m))
        if op == 0:
            m[pos] = rnd(256)
        elif op == 1:
            m = m[:pos] + bytes([interesting[rnd(len(interesting))]]) + m[pos:]
        elif op == 2 and len(m) > 2:
            m = m[:pos] + m[pos + 1:]
        elif op == 3:
            j = rnd(len(m))
            m = m[:pos] + m[j:j + 1 + rnd(6)] + m[pos:]
        else:
            m[pos] = interesting[rnd(len(interesting))]
    if rnd(2) and len(m) > 1:
        m = bytearray(reheader(m[0], m[2:]))  # every vector has a 1-byte RL
    accepted += probe(bytes(m), "mutation %d of %s" % (i, name))
    i += 1

print(json.dumps({"script": "codec_fuzz", "ok": ok, "cases": cases, "accepted": accepted,
                  "mutations": cases - n0, "failures": failures[:40],
                  "failed": len(failures)}))
