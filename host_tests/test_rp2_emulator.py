"""The Pico W image (`make firmware BOARD=rp2_pico_w`: MicroPython v1.28.0 ports/rp2
with the node frozen in) boots in the RP2040 emulator (npm rp2040js) and is checked
over its emulated USB serial: the frozen node starts at boot, finds no network
(Wi-Fi is not emulated) and backs off; a raw-REPL soft reset (mpremote's) keeps the
node's watchdog fed and reports "soft_reset"; over the raw REPL the frozen modules
import, the board module reports its id, temperature and supply voltage, the sans-IO
session and payload codec run a scripted exchange, the button counts a press made
during a blocking call and one that bounces faster than its IRQ handler runs (the
harness drives its pin), `board.lightsleep()` and `board.deepsleep()` last their time
when a timer interrupt ends the port's light sleep early, and `gc.mem_free()` is
recorded after boot (with `board` imported by the frozen boot.py) and with the node's
objects built. The last test ends in the deep sleep's reboot.

Figures (build and emulator times, image size, heap) are printed and written to
build/firmware/rp2_pico_w/emulator.json. The image is cached by its inputs, so a
warm run only boots it. Skipped only when Node.js is absent.
"""

import json
import os
import sys
import time

import pytest

from rp2_emulator import ROOT, Pico, ensure_node_packages, node_missing
from runtimes import SCRIPTS, run

sys.path.insert(0, os.path.join(ROOT, "tools"))
import rp2_firmware  # noqa: E402

# ADC inputs the emulated board sees: 876/4095 of 3.3 V = 0.706 V on the temperature
# sensor (27 C by the datasheet), 2068/4095 of 3.3 V = 1.667 V behind VSYS's 1:3
# divider (5.0 V, USB power)
ADC = {4: 876, 3: 2068}
REPORT = os.path.join(ROOT, "build", "firmware", "rp2_pico_w", "emulator.json")
FIGURES = {}

pytestmark = [
    pytest.mark.skipif(node_missing() is not None, reason=str(node_missing())),
    # a cold cache builds picotool and the image first (about 4 minutes on 2 cores)
    pytest.mark.timeout(1500),
]


@pytest.fixture(scope="module")
def pico():
    t0 = time.monotonic()
    image = rp2_firmware.firmware()
    FIGURES.update(image_flash_bytes=image["flash"], image_uf2_bytes=image["uf2"],
                   image_built_in_s=image["build_s"], image_this_run_s=image["elapsed_s"])
    ensure_node_packages()
    # GP15 (the button) and GP13 read 1, as their pull-ups hold them released
    board = Pico(image["uf2_path"], adc=ADC, gpio={15: 1, 13: 1}, watch=(16,))
    try:
        FIGURES["usb_enumerated_s"] = round(board.wait_connected(), 1)
        # the frozen main starts the node at boot; without Wi-Fi it backs off, doubling
        board.read_until(b"network failed (no_network): next try in 2 s", timeout=240)
        board.boot_log = board.interrupt().decode(errors="replace")
        FIGURES["boot_to_backoff_s"] = round(time.monotonic() - board.started, 1)
        # a clean heap: a raw-REPL soft reset skips main (the frozen boot.py imports board)
        board.raw_repl(soft_reset=True)
        out, err = board.exec("import gc\ngc.collect()\nprint(gc.mem_free())")
        assert not err, err
        FIGURES["mem_free_after_boot"] = int(out)
        yield board
    finally:
        FIGURES["emulator_total_s"] = round(time.monotonic() - t0, 1)
        board.close()
        os.makedirs(os.path.dirname(REPORT), exist_ok=True)
        with open(REPORT, "w") as f:
            json.dump(FIGURES, f, indent=1, sort_keys=True)
        print("\nrp2 emulator figures: %s" % json.dumps(FIGURES, sort_keys=True))


def run_json(pico, code):
    out, err = pico.exec(code)
    assert not err, err
    return json.loads(out.strip().splitlines()[-1])


def test_boot_starts_node_and_backs_off_without_network(pico):
    log = pico.boot_log
    assert "starting (board rp2_pico_w, reset cause power_on)" in log, log
    assert "network failed (no_network): next try in 1 s" in log, log
    assert "network failed (no_network): next try in 2 s" in log, log
    assert "Traceback" not in log and "Error" not in log.replace("[CYW43]", ""), log
    assert FIGURES["mem_free_after_boot"] > 100 * 1024


def test_a_raw_repl_soft_reset_keeps_the_watchdog_fed(pico):
    # The fixture's soft reset was a raw REPL's, as mpremote's before cp, fs, exec and
    # mount: main.py does not run then, and nothing imported `board`, whose takeover
    # feeds the node's watchdog (no port stops one): the board reset ~8 s into the
    # session. The frozen boot.py, which runs then too, imports it. This code imports
    # nothing of the node; 2.5 s on, the watchdog's count (CTRL TIME, in half
    # microseconds) shows a feed within the last second and a half (one a second).
    rec = run_json(pico, """
import json, machine, sys, time
time.sleep_ms(2500)
ctrl = machine.mem32[0x40058000]
print(json.dumps({"enabled": bool(ctrl & 0x40000000), "left_ms": (ctrl & 0xFFFFFF) // 2000,
                  "board": "board" in sys.modules}))
""")
    assert rec["enabled"] and rec["board"], rec
    assert rec["left_ms"] > 8388 - 1500, rec


def test_a_watchdog_left_running_by_a_soft_reset_is_taken_over(pico):
    # The node armed its watchdog before the Wi-Fi join (held by a timer meanwhile);
    # the fixture's soft reset (as a deploy's) stops that timer but not the watchdog,
    # which the port cannot stop. The board module, imported after it, reads the
    # watchdog's CTRL ENABLE bit and feeds it from a timer of its own (before: nothing
    # fed it until a join was done, and a join longer than 8.4 s reset the board).
    # The cause is the soft reset's (before: the power-on's again, REASON unchanged).
    rec = run_json(pico, """
import json, machine, board, board_common
print(json.dumps({"enabled": bool(machine.mem32[0x40058000] & 0x40000000),
                  "wdt_ms": board_common._wdt_ms, "held": board_common._hold is not None,
                  "cause": board.reset_cause()}))
""")
    assert rec == {"enabled": True, "wdt_ms": 8388, "held": True, "cause": "soft_reset"}, rec


def test_frozen_node_imports(pico):
    rec = run_json(pico, """
import json, os
names = ("mqtt5", "mqtt5.client", "mqtt5.session", "mqtt5.supervisor", "mqtt5.packets",
         "app", "commands", "config", "payload", "board", "board_common")
files = {}
for n in names:
    m = __import__(n)
    for part in n.split(".")[1:]:
        m = getattr(m, part)
    files[n] = m.__file__
try:
    fs = os.listdir("/")
except OSError as e:
    fs = "OSError %s" % e.args[0]
print(json.dumps({"files": files, "root": fs}))
""")
    files = rec["files"]
    assert len(files) == 11, files
    # frozen: no filesystem holds them (the emulator has none mounted) and their
    # names are the manifest's relative paths
    assert not any(f.startswith("/") for f in files.values()), files
    assert files["board"] == "board.py" and files["mqtt5.session"] == "mqtt5/session.py"
    assert rec["root"] in ([], "OSError 19"), rec


def test_board_reports_id_temperature_vsys(pico):
    rec = run_json(pico, """
import board, json
print(json.dumps({"name": board.NAME, "id": board.unique_id(),
                  "t": board.read_sensor("temperature"), "vsys": board.read_sensor("vsys"),
                  "cause": board.reset_cause(), "mem": board.mem_free(),
                  "ok": board.network_ok(), "rssi": board.rssi(),
                  "sensors": sorted(board.SENSORS)}))
""")
    FIGURES["board_report"] = rec
    assert rec["name"] == "rp2_pico_w"
    # the emulator's flash answers the unique-id command with zeros: 16 hex digits
    assert len(rec["id"]) == 16 and int(rec["id"], 16) >= 0
    assert abs(rec["t"] - 2700) <= 47, rec          # 27 C, within one 12-bit step
    assert abs(rec["vsys"] - 5000) <= 10, rec       # mV
    assert rec["cause"] == "soft_reset" and rec["sensors"] == ["temperature", "vsys"]
    assert rec["ok"] is False and rec["rssi"] is None and rec["mem"] > 50000


def test_network_up_reports_no_network(pico):
    rec = run_json(pico, """
import asyncio, board, json
async def go():
    try:
        await board.network_up("lab", "secret", 3000)
        return "up"
    except board.NetworkError as e:
        return e.args[0]
print(json.dumps({"reason": asyncio.run(go())}))
""")
    assert rec == {"reason": "no_network"}


def test_session_and_payload_exchange_matches_host(pico):
    with open(os.path.join(SCRIPTS, "node_exchange.py")) as f:
        out, err = pico.exec(f.read())
    assert not err, err
    on_board = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    on_host = run("micropython", "node_exchange.py").records
    assert on_board == on_host
    steps = {r["step"]: r for r in on_board}
    assert steps["connack"]["connected"] and steps["publish"]["reading"] == [2137, -2]
    assert steps["command"]["events"][2:] == ["fieldnode/v1/emu/cmd/ping", "hi"]
    assert steps["truncated"]["error"] == "PayloadError"


def test_mem_free_with_node_built(pico):
    # main.py runs the node with asyncio.run(node.serve()): run it as a task for a
    # while (it builds the client, supervisor, app and commands, then backs off
    # without network), measure the heap, then cancel it
    out, err = pico.exec("""
import asyncio, gc
_run = asyncio.run
def run_briefly(coro):
    async def probe():
        task = asyncio.create_task(coro)
        await asyncio.sleep_ms(4000)
        gc.collect()
        print("MEM_FREE", gc.mem_free())
        task.cancel()
        await asyncio.sleep_ms(50)
    asyncio.run = _run
    _run(probe())
asyncio.run = run_briefly
import main
""")
    assert "Traceback" not in err, err
    assert "network failed (no_network)" in out, out
    mem = [int(line.split()[1]) for line in out.splitlines() if line.startswith("MEM_FREE")]
    assert len(mem) == 1, out
    FIGURES["mem_free_node_built"] = mem[0]
    FIGURES["node_heap_bytes"] = FIGURES["mem_free_after_boot"] - mem[0]
    assert 0 < FIGURES["node_heap_bytes"] < FIGURES["mem_free_after_boot"]


def test_button_press_during_a_blocking_call_is_counted(pico):
    # A press made while the VM is inside a blocking call (a connect's DNS lookup)
    # must not be lost. Here the call is machine.time_pulse_us busy-waiting 1 s on
    # GP14, which nothing drives; GP16 goes high for its duration. The harness
    # presses and releases GP15 (the board's button) and GP13 (a soft-IRQ Button made
    # here, as the board's was before) together, inside that wait. The board's hard
    # IRQ counts the press at its edge; the soft one runs after the call, finds the
    # pin released, and loses it.
    mark = pico.exec_start("""
import board, board_common, machine
print("armed", board.button_pressed())
soft = board_common.Button(machine.Pin(13, machine.Pin.IN, machine.Pin.PULL_UP), 30)
busy = machine.Pin(16, machine.Pin.OUT, value=0)
idle = machine.Pin(14, machine.Pin.IN)
busy.value(1)
r = machine.time_pulse_us(idle, 1, 1000000)
busy.value(0)
print("waited", r)
print("hard", board.button_pressed(), board.button_pressed())
print("soft", soft.pressed())
""")
    i = pico.wait_event("@gpio 16 1", timeout=120)
    pico.set_input(15, 0)
    pico.set_input(13, 0)
    time.sleep(0.2)
    pico.set_input(15, 1)
    pico.set_input(13, 1)
    released_inside = "@gpio 16 0" not in pico.events[i:]
    out, err = pico.exec_end(mark)
    assert not err, err
    assert released_inside, "the busy-wait ended before the release: make it longer"
    assert "waited -2" in out, out          # the full 1 s: GP14 never read 1
    assert "armed False" in out, out
    assert "hard True False" in out, out    # one press, counted once
    assert "soft False" in out, out          # (why the board's IRQ is hard)


def test_button_press_bouncing_faster_than_its_irq_handler_counts_once(pico):
    # The contact goes down and back up in one step of the emulator (both edges latched
    # before the hard IRQ's handler runs, which finds the pin released), then down again
    # and held, then released. The handler reads the falling edge from the IRQ's
    # flags(): one press (before: it read the pin, and the next falling edge came within
    # the debounce time: none). The debounce is made 1 s here, so the harness's own
    # timing between the steps cannot matter.
    out, err = pico.exec("""
import board, board_common, time
board.button_pressed()
board_common._button._ms = 1000
time.sleep_ms(1100)
print("queued", board.button_pressed())
""")
    assert not err and "queued False" in out, (out, err)
    pico.set_inputs(15, 0, 1)
    time.sleep(0.05)
    pico.set_input(15, 0)
    time.sleep(0.3)
    pico.set_input(15, 1)
    time.sleep(0.1)
    out, err = pico.exec("""
import board, board_common
print("presses", board.button_pressed(), board.button_pressed())
board_common._button._ms = 30
""")
    assert not err, err
    assert "presses True False" in out, out


def test_lightsleep_lasts_its_time_when_an_interrupt_ends_it_early(pico):
    # rp2's machine.lightsleep() returns at any interrupt (and at once while a Wi-Fi
    # event is pending, which the emulator does not make); board.lightsleep() sleeps
    # again until its time has passed by ticks_ms, which the port's timer counts
    # through the sleep. Here a one-shot machine.Timer fires 1 s into the sleep: the
    # port's own sleep ends there, if nothing woke it before (its calls are recorded
    # through a stand-in for `machine` in board_common), and the board's goes on to the
    # full 6 s, in emulated time. The watchdog the node armed at boot runs (no port stops one):
    # fed just before, the sleep fits in its 8.4 s, and the board's own feeding (its
    # timer would wake the sleep; with it the sleep goes in fed pieces) is off meanwhile.
    rec = run_json(pico, """
import board, board_common, json, machine, time
fired = [0]
def tick(t):
    fired[0] += 1
class Machine:
    calls = []
    def lightsleep(self, ms):
        t = time.ticks_ms()
        machine.lightsleep(ms)
        self.calls.append([ms, time.ticks_diff(time.ticks_ms(), t)])
wdt, board_common._wdt = board_common._wdt, None
if board_common._hold is not None:
    board_common._hold.deinit()
    board_common._hold = None
board_common.machine = stand_in = Machine()
timer = machine.Timer(-1, mode=machine.Timer.ONE_SHOT, period=1000, callback=tick)
if wdt is not None:
    wdt.feed()
t = time.ticks_ms()
board.lightsleep(6000)
slept = time.ticks_diff(time.ticks_ms(), t)
board_common.machine = machine
board_common._wdt = wdt
board.wdt_hold()
timer.deinit()
print(json.dumps({"slept": slept, "calls": stand_in.calls, "fired": fired[0]}))
""")
    calls = rec["calls"]
    assert rec["fired"] == 1 and len(calls) >= 2 and calls[0][0] == 6000, rec  # woken early
    done = 0
    for asked, took in calls:  # each piece asks for the rest (by the board's own ticks)
        assert abs(asked - (6000 - done)) <= 1, rec
        done += took
    assert any(took < asked for asked, took in calls[:-1]), rec
    assert 6000 <= rec["slept"] < 6100, rec


def test_watchdog_hold_feeds_from_a_virtual_timer(pico):
    # After Ctrl-C main.py calls board.wdt_hold(): the armed watchdog is fed from an
    # rp2 virtual Timer while the board sits at the REPL.  The emulator does not reset
    # on a missed feed, so a counting stand-in takes the WDT's place and the feeds the
    # port's Timer makes during a sleep are counted.
    rec = run_json(pico, """
import json, time, board, board_common
class Count:
    n = 0
    def feed(self):
        self.n += 1
if board_common._hold is not None:  # the taken-over watchdog's (test above)
    board_common._hold.deinit()
    board_common._hold = None
board_common._wdt = c = Count()
board_common._wdt_ms = 400
board.wdt_hold()
board.wdt_hold()
time.sleep_ms(1050)
board_common._hold.deinit()
print(json.dumps({"feeds": c.n, "timer": repr(board_common._hold)}))
""")
    assert 8 <= rec["feeds"] <= 11, rec      # every 100 ms (a quarter of 400 ms)
    assert "Timer" in rec["timer"], rec


def test_deepsleep_lasts_its_time_when_an_interrupt_ends_the_ports_early(pico):
    # Last: the board reboots at the end (the emulator reports the watchdog's forced
    # reboot, and the board stays halted). rp2's machine.deepsleep() is a light sleep
    # that any interrupt ends (USB, a Timer, a Wi-Fi event), then a reset: it reset
    # at the first (here: a deepsleep(6000) with the watchdog's 8388 ms slept its last
    # 4194 ms that way, reset ~3 s in). board.deepsleep() sleeps it all as lightsleep()
    # does, by the clock and fed, then resets. A one-shot Timer fires 3 s in. The
    # reboot must be the forced one (REASON 2, not a starved watchdog's 1), 6 s after
    # the call in emulated time, as the port's ticks_ms and the report count it.
    mark = pico.exec_start("""
import board, machine, time
board.wdt_start(8388)  # the node's watchdog again (a test above put a stand-in there)
timer = machine.Timer(-1, mode=machine.Timer.ONE_SHOT, period=3000, callback=lambda t: None)
print("T0", time.ticks_ms(), "END")
board.deepsleep(6000)
""")
    start = pico.read_until(b"T0 ", 60, mark)
    t0 = int(pico.out[start:pico.read_until(b" END", 60, start) - 4])
    event = pico.wait_event_prefix("@watchdog", 60)  # (from the start: only the first shows)
    fields = dict(f.split("=") for f in event.split()[1:])
    assert fields["reason"] == "2", event
    assert 6000 <= int(fields["at_ms"]) - t0 < 6300, (t0, event)
