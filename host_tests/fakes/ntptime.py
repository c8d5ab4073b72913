"""Test-only stand-in for micropython-lib's `ntptime` (frozen into the esp32 and rp2
images through the ports' bundle-networking manifests).

Its names mirror the port stubs (checked by host_tests/test_board_fakes.py).
`settime()` touches no network and no clock: it records the ``host`` and ``timeout``
in force at each call in ``fake_calls``, and raises the exceptions queued in
``fake_errors``, one per call (as the real one raises OSError(ETIMEDOUT) when no
answer came within ``timeout`` seconds, or the DNS lookup's error); with none
queued it succeeds.
"""

host = "pool.ntp.org"
timeout = 1
fake_calls = []
fake_errors = []


def settime():
    fake_calls.append([host, timeout])
    if fake_errors:
        raise fake_errors.pop(0)
