"""The ESP32 and Pico W board modules against the fake machine/network pair
(host_tests/fakes/): Wi-Fi retry, timeouts, reasons, a vanishing AP, a
bouncing button, sensors, watchdog, reset cause. Both runtimes. Time is virtual
(`Clock`): the joins' deadlines and the button's debounce are the board's own, in
its own ms, and none is waited for in real time.
  board_fakes.py <esp32|rp2_pico_w>
The setup is board_fakes_setup.py; the cases are in board_fakes_wifi.py,
board_fakes_inputs.py and board_fakes_system.py, all imported before the first case
runs (the soft reset case imports the board afresh: the cases after it go on with
the board imported here)."""
import asyncio

from board_fakes_setup import CLOCK, emit  # (first: the board on the fakes)
from board_fakes_inputs import button, sensors
from board_fakes_system import system
from board_fakes_wifi import wifi


async def main():
    clock = asyncio.create_task(CLOCK.run())
    await wifi()
    clock.cancel()


asyncio.run(main())
button()
sensors()
system()
emit(case="done")
