"""firmware/payload.py and firmware/config.py under both runtimes (no broker)."""

import os

from runtimes import run


def test_payload_and_config_units(runtime, tmp_path):
    os.environ["FN_DIR"] = str(tmp_path)
    try:
        res = run(runtime, "firmware_units.py")
    finally:
        del os.environ["FN_DIR"]
    checks = [r for r in res.records if "check" in r]
    bad = [r for r in checks if not r["ok"]]
    assert not bad, bad
    assert res.record(done=len(checks)) and len(checks) >= 30
