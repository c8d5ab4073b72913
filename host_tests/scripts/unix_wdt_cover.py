"""The unix board's software watchdog under wdt_cover(ms): fed for at most ms, as a
board's Timer feeds it while a DNS lookup blocks the loop.
    unix_wdt_cover.py covered: a 1000 ms watchdog, covered for 3 s, not fed for 2 s:
        it must stay up (exit 0).
    unix_wdt_cover.py expired: covered for 1 s, not fed for 3.5 s: ended (status 4).
    unix_wdt_cover.py stopped: covered for 5 s, the cover stopped at once (0), not fed
        for 3 s: ended (status 4)."""
import sys
import time

import board

mode = sys.argv[1]
board.wdt_start(1000)
board.wdt_cover({"covered": 3000, "expired": 1000, "stopped": 5000}[mode])
if mode == "stopped":
    board.wdt_cover(0)
time.sleep(2 if mode == "covered" else 3.5 if mode == "expired" else 3)
print("still running")
board.wdt_cover(0)
board.wdt_feed()
