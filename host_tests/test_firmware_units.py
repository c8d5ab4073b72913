"""firmware/payload.py, config.py, app.py and keeper.py units (no broker), on both
runtimes and the 32-bit build, whose ticks_ms wraps every 12.4 days as a board's does.
One script a concern (host_tests/scripts/firmware_units_*.py, their helpers in
firmware_units_util.py), each with the fewest checks it runs on any runtime."""

import pytest

from runtimes import M32, run

SCRIPTS = {
    "firmware_units_payload_schema.py": 79,
    "firmware_units_config_files.py": 27,
    "firmware_units_app.py": 12,
    "firmware_units_readings.py": 10,
    "firmware_units_stats.py": 4,
    "firmware_units_keeper.py": 12,
}


@pytest.mark.runtimes(("cpython", "micropython", M32))
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_firmware_units(runtime, script, tmp_path, monkeypatch):
    monkeypatch.setenv("FN_DIR", str(tmp_path))
    # the unix board's sim/ files (read by the readings checks) in this test's own folder
    monkeypatch.setenv("FIELDNODE_HOME", str(tmp_path / "home"))
    res = run(runtime, script)
    checks = [r for r in res.records if "check" in r]
    bad = [r for r in checks if not r["ok"]]
    assert not bad, bad
    assert res.record(done=len(checks)) and len(checks) >= SCRIPTS[script]
