"""The setup board_fakes.py's cases share (board_fakes_wifi.py, board_fakes_inputs.py,
board_fakes_system.py): the board named on the command line on the fake
machine/network pair (board_env.py), the virtual Clock that the board module, the
fake driver and the cases run on, and emit() for a case's JSON record. Each case
module imports this before the board, so the board it gets is on the fakes."""
import asyncio
import json
import sys

import board_env

BOARD = sys.argv[1]

board_env.use(BOARD)
import machine  # noqa: E402
import network  # noqa: E402
machine.Pin.fake_irq_flags = BOARD != "esp32"  # rp2's pin IRQ has flags(), esp32's not
import board  # noqa: E402
import board_common  # noqa: E402


class Clock:
    """Virtual milliseconds, for the board module (board_common's ticks_ms and
    sleep_ms), the fake driver (network.ticks_ms) and this script. A task's sleep_ms()
    ends when the clock reaches its end; `run` moves the clock to the earliest end once
    the tasks that can run have run (until each waits again), so what a case measures is
    the board's own arithmetic, whatever the machine's load, and takes no real time."""

    def __init__(self):
        self.now = 0
        self.waits = []  # (end, order, asyncio.Event) of each sleeping task
        self.order = 0

    def ticks_ms(self):
        return self.now

    async def sleep_ms(self, ms):
        ev = asyncio.Event()
        self.order += 1
        self.waits.append((self.now + ms, self.order, ev))
        await ev.wait()

    async def run(self):
        while True:
            for _ in range(5):  # the tasks woken (and made) run on to their next wait
                await asyncio.sleep(0)
            if self.waits:
                w = min(self.waits)
                self.waits.remove(w)
                self.now = max(self.now, w[0])
                w[2].set()

    def use(self, board_common_module):
        """The board module's clock is this one (again after a re-import)."""
        board_common_module.ticks_ms = self.ticks_ms
        board_common_module.sleep_ms = self.sleep_ms


CLOCK = Clock()
ticks_ms = CLOCK.ticks_ms
_sleep_ms = CLOCK.sleep_ms
network.ticks_ms = CLOCK.ticks_ms
CLOCK.use(board_common)
board.NTP_HOST = None  # no clock set from NTP here (board_clock.py tests it): that looked
# up pool.ntp.org for real, and queried it where the machine is online


def emit(**rec):
    print(json.dumps(rec))
