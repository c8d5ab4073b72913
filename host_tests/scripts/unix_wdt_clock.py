"""The unix board's software watchdog when the host's wall clock is set (NTP) while
the node runs: it measures with the monotonic clock, so a step does not count.
    unix_wdt_clock.py forward: the wall clock jumps 1 h ahead while the node feeds
        every 250 ms for 2 s: it must stay up (exit 0).
    unix_wdt_clock.py backward: the wall clock jumps 1 h back and the node stops
        feeding for 3 s with a 1000 ms watchdog: it must be ended (status 4)."""
import sys
import time as _real

import board

OFFSET = [0.0]


class _Clock:
    @staticmethod
    def time():
        return _real.time() + OFFSET[0]

    @staticmethod
    def sleep(s):
        _real.sleep(s)


board.time = _Clock
mode = sys.argv[1]
board.wdt_start(1000)
for _ in range(5):
    board.wdt_feed()
    _real.sleep(0.1)
OFFSET[0] = 3600.0 if mode == "forward" else -3600.0
print("wall clock set %s by 1 h" % mode)
if mode == "forward":
    for _ in range(8):
        _real.sleep(0.25)
        board.wdt_feed()
else:
    _real.sleep(3)
print("still running")
