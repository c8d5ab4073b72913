"""board_fakes.py's input cases: a bouncing button (presses kept, bounces on press
and release, a hard IRQ while pressed() takes a press) and the sensors (esp32's
temperature, the Pico W's temperature and VSYS with GPIO29 restored)."""
import sys

from board_fakes_setup import BOARD, CLOCK, emit  # (first: the fakes)
import board
import board_common
import machine


def sleep_ms(ms):
    CLOCK.now += ms  # (the button's IRQs run at the edges the script makes)


def bounce(pin, final, edges=5, gap_ms=1):
    for i in range(edges):
        pin.fake_level(final if i % 2 == 0 else 1 - final)
        sleep_ms(gap_ms)
    pin.fake_level(final)


def button():
    before = board.button_pressed()  # creates the button
    pin = [p for p in machine.Pin.fake_pins.values() if p._handler is not None][0]
    counts = []
    for hold_ms in (80, 200):
        bounce(pin, 0)        # press, bouncing
        sleep_ms(hold_ms)
        bounce(pin, 1)        # release, bouncing
        sleep_ms(60)
        n = 0
        while board.button_pressed():
            n += 1
        counts.append(n)
    # two clean presses before anyone asks: both are kept
    for _ in range(2):
        pin.fake_level(0)
        sleep_ms(40)
        pin.fake_level(1)
        sleep_ms(40)
    queued = [board.button_pressed(), board.button_pressed(), board.button_pressed()]
    # a press whose contact bounces back up before the handler runs, then down again
    # within the debounce time, and held: rp2's handler finds the falling edge in flags()
    sleep_ms(40)
    pin.fake_edges(0, 1)
    sleep_ms(3)
    pin.fake_level(0)
    sleep_ms(80)
    pin.fake_level(1)
    sleep_ms(40)
    fast = [board.button_pressed(), board.button_pressed()]
    # a press held, released with a bounce down and up again before the handler runs:
    # rp2's flags() hold that bounce's falling edge too
    pin.fake_level(0)
    sleep_ms(200)
    pin.fake_edges(1, 0, 1)
    sleep_ms(100)
    release = [board.button_pressed(), board.button_pressed()]
    # a press begun and over before its handler ran (a blocking call): esp32's soft
    # handler then reads the pin released, but the edge it runs for came after a quiet
    # period while released: a fall
    sleep_ms(100)
    pin.fake_edges(0, 1)
    sleep_ms(100)
    within = [board.button_pressed(), board.button_pressed()]
    emit(case="button", before=before, pin=pin.id, pull_up=pin.pull == machine.Pin.PULL_UP,
         hard=pin._hard, counts=counts, queued=queued, fast_bounce=fast,
         release_bounce=release, press_within=within,
         race=_press_while_taken(pin) if pin._hard else None,
         edge_at_start=_edge_as_the_irq_starts())


def _edge_as_the_irq_starts():
    """A press at the moment rp2's pin.irq() switches the hard IRQ on, before Button()
    went on: its handler raised AttributeError (and the port switches such a handler off
    for good). What a press, a release and pressed() then give."""
    p = machine.Pin(28, machine.Pin.IN, machine.Pin.PULL_UP)
    real = p.irq
    errors = []

    def irq(**kw):
        r = real(**kw)
        try:
            p.fake_level(0)  # pressed just as it started
        except Exception as e:
            errors.append(type(e).__name__)
        return r

    p.irq = irq
    b = board_common.Button(p, 50, hard=True)
    sleep_ms(80)
    p.fake_level(1)
    sleep_ms(80)
    p.fake_level(0)  # and a second press, later
    sleep_ms(80)
    p.fake_level(1)
    return [errors, b.pressed(), b.pressed(), b.pressed()]


def _press_while_taken(pin):
    """CPython: a press whose hard IRQ comes while pressed() takes the one before, just
    before it writes `presses` back (traced by opcode); what pressed() then says."""
    if sys.implementation.name != "cpython":
        return None
    import dis
    code = board_common.Button.pressed.__code__
    stores = {i.offset for i in dis.get_instructions(code)
              if i.opname == "STORE_ATTR" and i.argval == "presses"}
    fired = []

    def trace(frame, event, arg):
        if frame.f_code is not code:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode" and frame.f_lasti in stores and not fired:
            fired.append(1)
            pin.fake_level(0)
        return trace

    pin.fake_level(0)
    sleep_ms(40)
    pin.fake_level(1)
    sleep_ms(40)  # one press queued, the button quiet since
    sys.settrace(trace)
    try:
        first = board.button_pressed()
    finally:
        sys.settrace(None)
    pin.fake_level(1)
    return [first, board.button_pressed(), board.button_pressed(), len(fired)]


def sensors():
    rec = {"case": "sensors", "names": sorted(board.SENSORS)}
    if BOARD == "esp32":
        import esp32
        esp32.RAW_TEMPERATURE[0] = 122
        rec["t_122F"] = board.read_sensor("temperature")
        esp32.RAW_TEMPERATURE[0] = 128  # read while the sensor is not ready
        try:
            rec["t_128F"] = board.read_sensor("temperature")
        except OSError as e:
            rec["t_128F"] = str(e)
        esp32.RAW_TEMPERATURE[0] = 122
    else:
        for volts_x1000, key in ((706, "t_0706"), (0, "t_0"), (3300, "t_3300")):
            machine.fake_adc[4] = volts_x1000 * 65535 // 3300
            rec[key] = board.read_sensor("temperature")
        ctrl, pad = 0x400140EC, 0x4001C078
        machine.mem32.regs.update({ctrl: 6, pad: 0x56})   # as the cyw43 PIO left it
        machine.fake_adc[3] = MemoryError()  # a read that fails with GPIO29 switched
        try:
            board.read_sensor("vsys")
        except MemoryError:
            pass
        rec["restored_after_error"] = [machine.mem32[ctrl], machine.mem32[pad],
                                       machine.fake_state["irq_off"] == 0]
        del machine.mem32.writes[:]
        machine.fake_adc[3] = 5000 // 3 * 65535 // 3300  # 5.0 V on VSYS, 1:3 divider
        rec["vsys"] = board.read_sensor("vsys")
        rec["restored"] = [machine.mem32[ctrl], machine.mem32[pad]]
        rec["writes_with_irq_off"] = all(w[2] > 0 for w in machine.mem32.writes)
        rec["analog_during_read"] = [w[1] for w in machine.mem32.writes[:2]]
        rec["irq_on_after"] = machine.fake_state["irq_off"] == 0
    try:
        board.read_sensor("nope")
    except ValueError as e:
        rec["unknown"] = str(e)
    emit(**rec)
