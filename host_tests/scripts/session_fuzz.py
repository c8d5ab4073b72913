"""Hostile-server fuzzing of the sans-IO session, runtime neutral.

    session_fuzz.py [cases] [seed]      (defaults 2000, 1)
    session_fuzz.py 1 <case seed> one   (replay one failing case)

Each case makes a fresh Session (small buffers), sends CONNECT, optionally feeds a
valid CONNACK and queues a QoS 1 and a QoS 2 publish, a SUBSCRIBE and an
UNSUBSCRIBE, then feeds 1-3 server packets: the seeds captured from Mosquitto
(host_tests/fuzz_seeds.json, every server packet type), mutated (bit flips,
interesting bytes, inserts, deletes, repeats, splices, cuts, a rewritten
Remaining Length) or replaced by random bytes, in random chunk sizes, with keep
alive ticks in between.  Checked per case:

- no exception escapes the session (a protocol error is an ERROR event);
- an ERROR event carries a ProtocolError (or, for a refusing CONNACK, an
  MQTTError), a failure reason code (>= 0x80), the session is CLOSED, and the
  last packet the client sent is a DISCONNECT with that reason code (none after a
  refusing CONNACK: the server closes);
- when the first failing packet is well framed and the codec alone rejects it
  with code X, the session disconnects with X;
- MicroPython: the heap in use (gc.mem_alloc after collect) does not grow from
  case 200 to the last.

Prints {"script": "session_fuzz", "cases", "errors" {code: n}, "oracle", "failed",
"failures" [{"seed", "what"}], "heap_growth", "seconds"}.
"""
import gc
import json
import sys
import time

import mqtt5.auth  # noqa: F401 - loaded lazily by the session: loaded before the
import mqtt5.reason_codes  # noqa: F401 - heap baseline, so only real growth counts
import mqtt5.packets as P
import mqtt5.session as S
import mqtt5.wire as wire
from mqtt5.errors import MQTTError, ProtocolError
from codec_cases import reheader

CASES = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else 1
ONE = len(sys.argv) > 3 and sys.argv[3] == "one"
_SEEDS_PATH = __file__.rsplit("/", 2)[0] + "/fuzz_seeds.json"
with open(_SEEDS_PATH) as f:
    SEEDS = [bytes.fromhex(s["hex"]) for s in json.load(f)["seeds"]]
CONNACK = [s for s in SEEDS if s[0] >> 4 == 2][0]
RX = 512
_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x02, 0x26, 0x23, 0x0B, 0xC0, 0xF4, 0x81)
_rng = [1]


def rnd(n):
    """xorshift32: the same sequence on both runtimes."""
    x = _rng[0]
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    _rng[0] = x
    return x % n if n else 0


def mutate(p):
    m = bytearray(p)
    for _ in range(1 + rnd(4)):
        op = rnd(8)
        pos = rnd(len(m)) if m else 0
        if op == 0 and m:
            m[pos] ^= 1 << rnd(8)
        elif op == 1 and m:
            m[pos] = _INTERESTING[rnd(len(_INTERESTING))]
        elif op == 2:
            m = m[:pos] + bytes([rnd(256)]) + m[pos:]
        elif op == 3 and len(m) > 2:
            m = m[:pos] + m[pos + 1:]
        elif op == 4:
            j = rnd(len(m) + 1)
            m = m[:pos] + m[j:j + 1 + rnd(8)] + m[pos:]
        elif op == 5:
            o = SEEDS[rnd(len(SEEDS))]
            m = m[:pos] + o[rnd(len(o)):]
        elif op == 6 and m:
            m = m[:pos]
        elif m:
            m[pos] = rnd(256)
    if rnd(2) and len(m) > 2:  # a consistent Remaining Length (seeds have 1 byte)
        m = bytearray(reheader(m[0], m[2:]))
    return bytes(m)


def packet():
    k = rnd(10)
    if k == 0:
        return bytes(rnd(256) for _ in range(rnd(40)))
    if k == 1:
        return SEEDS[rnd(len(SEEDS))]
    return mutate(SEEDS[rnd(len(SEEDS))])


def codec_code(p):
    """The codec's verdict on p alone: reason code of its ProtocolError, 0 if it
    decodes, None if p is not exactly one well-framed packet within RX."""
    try:
        if wire.frame(p, 0, len(p), 1 << 28) != len(p) or len(p) > RX:
            return None
        P.decode(memoryview(p))
        return 0
    except ProtocolError as e:
        return e.reason_code


class Case:
    def __init__(self, seed):
        _rng[0] = seed
        self.seed = seed
        self.now = 0
        self.sent = []  # client packets, decoded
        self.err = None
        self.oracle = 0

    def take(self, s):
        mv = s.data_to_send()
        if mv is not None:
            data = bytes(mv)
            s.sent(len(data), self.now)
            i = 0
            while i < len(data):
                n = wire.frame(data, i, len(data), 1 << 28)
                self.sent.append(P.decode(memoryview(data)[i:i + n]))
                i += n

    def drain(self, s):
        while True:
            self.take(s)
            ev = s.next_event()
            if ev is None:
                self.take(s)
                return
            if ev.kind == S.ERROR:
                self.err = (ev.reason_code, ev.error, len(self.sent))

    def run(self):
        s = S.Session("fuzz", keepalive=[0, 5][rnd(2)], rx_size=RX, tx_size=RX,
                      max_inflight=4, receive_maximum=4, topic_alias_maximum=rnd(2) * 4,
                      strict_receive_maximum=bool(rnd(2)))
        s.connect(0)
        self.take(s)
        if rnd(4):
            s.feed(CONNACK, 0)
            self.drain(s)
            try:
                s.publish("fz/1", b"one", 1)
                s.publish("fz/2", b"two", 2)
                s.subscribe([("fz/#", 2)])
                s.unsubscribe(["fz/old"])
            except MQTTError:
                pass
            self.take(s)
        expect = None
        for _ in range(1 + rnd(3)):
            p = packet()
            clean = s._rx[2] == s._rx[3]  # start == end (rxbuf.py)  # no earlier bytes left unparsed
            i = 0
            while i < len(p) and s.state != S.CLOSED:
                j = i + 1 + rnd(len(p) - i)
                i += s.feed(p[i:j], self.now)
                self.drain(s)
                if rnd(4) == 0:
                    self.now += rnd(4000)
                    s.tick(self.now)
                    self.drain(s)
            if self.err is not None and expect is None and clean:
                expect = codec_code(p)
            if s.state == S.CLOSED:
                break
        return self.check(s, expect)

    def check(self, s, expect):
        if self.err is None:
            return None
        rc, e, n = self.err
        if rc < 0x80:
            return "ERROR with reason code 0x%02X" % rc
        if s.state != S.CLOSED:
            return "ERROR but state %d" % s.state
        if isinstance(e, ProtocolError):
            last = self.sent[-1] if self.sent else None
            if not isinstance(last, P.Disconnect) or last.reason_code != rc:
                return "ERROR 0x%02X but the client sent %r last" % (rc, last)
            if expect == 0x84:  # from a CONNECT: not a DISCONNECT code, 0x82 instead
                expect = 0x82
            if expect:
                self.oracle = 1
            if expect and expect != rc:
                return "disconnected with 0x%02X, the codec says 0x%02X" % (rc, expect)
        elif isinstance(e, MQTTError):
            if any(isinstance(p, P.Disconnect) for p in self.sent[n:]):
                return "DISCONNECT after a refusing CONNACK"
        else:
            return "ERROR event with %r" % (e,)
        return None


def main():
    failures = []
    codes = {}
    oracle = 0
    heap0 = None
    t0 = time.time()
    n = 1 if ONE else CASES
    for i in range(n):
        seed = BASE if ONE else ((BASE * 1000003 + i * 2654435761) & 0xFFFFFFFF) | 1
        c = Case(seed)
        try:
            what = c.run()
        except Exception as e:  # noqa: BLE001 - nothing may escape the session
            what = "exception %r" % (e,)
        oracle += c.oracle
        if c.err is not None:
            k = "0x%02X" % c.err[0]
            codes[k] = codes.get(k, 0) + 1
        if what is not None and len(failures) < 20:
            failures.append({"seed": seed, "what": what})
        elif what is not None:
            failures.append(None)  # counted, not kept (bounded heap check aside)
        if i == 199 and hasattr(gc, "mem_alloc"):
            gc.collect()
            heap0 = gc.mem_alloc()
    growth = None
    if heap0 is not None:
        gc.collect()
        growth = gc.mem_alloc() - heap0
    print(json.dumps({"script": "session_fuzz", "cases": n, "base_seed": BASE,
                      "errors": codes, "oracle": oracle, "failed": len(failures),
                      "failures": [f for f in failures if f][:20], "heap_growth": growth,
                      "seconds": round(time.time() - t0, 1)}))


main()
