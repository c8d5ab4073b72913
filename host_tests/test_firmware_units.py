"""firmware/payload.py, config.py and app.py units (no broker), on both runtimes and
the 32-bit build, whose ticks_ms wraps every 12.4 days as a board's does."""

import pytest

from runtimes import M32, run


@pytest.mark.runtimes(("cpython", "micropython", M32))
def test_payload_and_config_units(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("FN_DIR", str(tmp_path))
    # the unix board's sim/ files (read by the readings checks) in this test's own folder
    monkeypatch.setenv("FIELDNODE_HOME", str(tmp_path / "home"))
    res = run(runtime, "firmware_units.py")
    checks = [r for r in res.records if "check" in r]
    bad = [r for r in checks if not r["ok"]]
    assert not bad, bad
    assert res.record(done=len(checks)) and len(checks) >= 30
