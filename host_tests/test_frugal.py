"""Issue 11, a frugal core: what a basic node loads, and heap budgets as regression
guards (figures measured on the 32-bit frozen runtime, recorded with a small margin)."""

import os
import sys

import pytest

from runtimes import M32, M32_FROZEN, ROOT, run

WORKLOAD = os.path.join(ROOT, "bench", "workloads", "fieldnode.py")

# Loaded only on use: reason-code names (errors), the public names of constants, the
# supervised drain, topic aliases, enhanced AUTH, QoS 2 acks, the offline queue,
# request/response, the supervisor (reconnect, redirection, backoff), TLS, the server's
# half of the codec, giving up a lost session, the resend backlog, the "not connected"
# error (mqtt5.events).
OPTIONAL = ("mqtt5.reason_codes", "mqtt5.names", "mqtt5.drain", "mqtt5.aliases", "mqtt5.auth",
            "mqtt5.qos2", "mqtt5.offline", "mqtt5.requester", "mqtt5.responder",
            "mqtt5.supervisor", "mqtt5.backoff", "mqtt5.tls", "mqtt5._compat_tls",
            "mqtt5.packets.server", "mqtt5.session_lost", "mqtt5.backlog", "mqtt5.events")
# MicroPython's plain TCP connection is _compat's socket transport: the asyncio-streams
# one (CPython's for every connection) is for TLS there; CPython's versions of
# MicroPython's built-ins (_compat_cpython) never load on MicroPython
MP_NEVER = ("mqtt5._compat_streams", "mqtt5._compat_cpython")


@pytest.mark.runtimes(("cpython", "micropython", M32_FROZEN))
def test_basic_node_loads_no_optional_module(runtime, broker):
    rec = run(runtime, "basic_node_modules.py", broker.port, runtime).record()
    mods = rec["modules"]
    assert "mqtt5.client" in mods and "mqtt5.session" in mods, mods   # it did run
    assert rec["idle"] == [], rec   # nothing loads after connect() returns, while idle
    assert rec["keep_const"] == [], rec  # const() is the compiler's (builtin on CPython)
    optional = OPTIONAL if runtime == "cpython" else OPTIONAL + MP_NEVER
    assert [m for m in mods if m in optional] == [], mods


# Measured on micropython-m32-frozen by bench/workloads/fieldnode.py `mem`, recorded
# with a small margin.  (`make bench` runs the same workload on its own frozen image,
# which also holds umqtt.simple and mqtt_as; its after-connect figure reads about
# 460 B lower.)
# 2026-11-30, after the QoS 0 fast path and per-slot waiter Events: 26,656 B after
# connect, 42.6 B per QoS 0 publish, 673.3 B per QoS 1 publish (every run the same).
# 2026-12-01, high-water-mark buffers (256 B each until a packet needs more): 23,568 B
# after connect (27,072 B just before, same build), 42.7 B per QoS 0 publish (the bench
# now warms up with one burst, so the buffers' one-time growth is not counted per
# publish), 673.3 B per QoS 1 publish.
# 2026-12-01, with the buffers, lazy Router/Message/control and the bare-PINGRESP skip
# together: 21,120 B after connect (13,760 B after import), 42.7 B per QoS 0 publish,
# 673.3 B per QoS 1 publish; then 641.3 B once a bare PUBACK is acted on undecoded.
# 2026-12-01, message delivery moved to mqtt5.message and the server's half of the
# codec to mqtt5.packets.server: 20,800 B after connect (13,616 B after import).
# 2026-12-01, QoS 1 publishes queued by publish() itself (detached waiter slots):
# 20,928 B after connect, 545.3 B per QoS 1 publish; 481.3 B once a PUBACK with a
# reason code but no properties (0x10 from a topic nobody subscribes to) is acted on
# undecoded too.  Then 20,736 B after connect with the finished awaitable a generator
# run to its end (MicroPython) instead of a class; 20,352 B once the resend backlog,
# SessionLost, inbound aliases and the QoS 2 inbound flow load only on use.
# 2026-12-01, in-flight slots, waiter slots and the held-ack table made on demand
# instead of 16 of each up front: 19,712 B after connect (20,368 B just before, same
# build); per-publish figures unchanged (42.7 B and 481.3 B).
# 2026-12-01, the UTF-8 of the last four str topics kept by the transmit buffer: 26.2 B
# per QoS 0 publish, 465.3 B per QoS 1 publish; 19,792 B after connect (+80 B).
# 2026-12-01, the m32 builds run with their heap below 2**31 as on a board
# (mpbuild.M32_ENV; asyncio's id(socket) no longer makes long ints): 19,728 B after
# connect, 273.3 B per QoS 1 publish, same code.  Then the link's Events replaced by
# Signals (mqtt5._compat: awaiting one allocates nothing; asyncio's event module is no
# longer loaded): 19,856 B after connect, 24.6 B per QoS 0 and 113.3 B per QoS 1 publish;
# 19,744 B after connect once a Signal's slot attributes are class defaults; 19,824 B
# with the slot-wait count and the supervised fast path (Link._take_free, _wait_freed).
# 2026-12-03: the link's three pulse-only Signals made one, its three drain hooks gone
# (the Supervisor calls mqtt5.drain), the lazy-name tables of mqtt5 and mqtt5.packets
# strings instead of dicts: 19,568 B after connect here (bench: 19,664 -> 19,040 B).
# 2026-12-03: keep alive as two functions over a list (no class), a few one-caller
# helpers folded in, and plain TCP through _compat's own stream (asyncio.stream, 928 B,
# not loaded): 18,656 B after connect (19,552 B just before, same build; bench 17.7 KiB).
# Then connect() without asyncio.wait_for (asyncio.funcs, 528 B, not loaded): 18,160 B.
# 2026-12-03: encode_publish whole (5 functions fewer), MicroPython's plain TCP socket
# the transport itself (no stream wrapper): 17,568 B; then both buffers 128 B at first
# (a sensor's packets are a few dozen bytes): 17,312 B after connect.
# 2026-12-03: keep alive's and the in-flight table's constants private, the
# subscription options resolved lazily, CONNECT's class imported where it is used and
# the in-flight table's `used` count gone (module and instance dicts a size smaller):
# 17,008 B after connect (17,296 B just before, same build).  Then the reader's wait
# for the socket made allocation-free (the transport is its own awaitable, where a
# generator was made per read): 65.3 B per QoS 1 publish (113.3 before), 17,088 B
# after connect.
# 2026-12-04: PubAck and the codec's Will out of the core, and module dicts kept
# under a size step (events' and session's names resolved from tables, imports made
# where used, a few helpers moved to the lazy modules that use them): 16,192 B after
# connect (17,024 B before, same build; bench/heapmap.py shows the rest).  Then the
# receive buffer and the held ids as lists the session keeps, with functions over
# them (no RxBuffer, no HeldIds class): 15,872 B.  Then 11 calls fewer on the publish
# and ack paths (three methods gone) and no library module keeping a `const` name:
# 15,712 B after connect, 20.5 B per QoS 0 and 65.3 B per QoS 1 publish.  Then the
# transmit buffer's and the in-flight table's one-caller methods folded into their
# callers, and inbound's PUBLISH handling into handle() (class and module dicts a
# step smaller): 15,536 B.  Then the per-connection state without the in-flight
# table's flags list and with the rare lists made by their first entry (the session's
# pending events, the held QoS 2 ids, the unwritten acks; no empty inbound alias
# table), and seven internal functions without default arguments (16 B each): 15,200 B.
# Late on 2026-12-04: the public-name tables, the outgoing message's properties and the
# Will, and the unsubscribe classes out of the core: 15,184 B after connect (16,992 ->
# 16,704 B after subscribe).
# 2026-12-05, the adapter rewritten (issue 11's step 3): one class (no Link), link.py as
# 13 functions of the client, 23 functions in client and link where there were 38, the
# waiter slots' outcome in their Signals: 14,032 B after connect (16,272 B after
# subscribe); per publish unchanged (20.5 B and 65.3 B).  Budget: that plus the 432 B
# margin of the one before.  Then, with the codec and session reworked (steps 1 and 2:
# mqtt5.codec's functions decode into the session's Event and encode CONNECT without
# a packet object, the transmit buffer and the in-flight table lists, two session
# modules fewer): 12,352 B after connect (14,928 B after subscribe), per publish
# unchanged; the budget that plus 432 B.  Then SUBSCRIBE and SUBACK as functions
# (mqtt5.subcodec: no packet class loaded by a subscribe) and the in-flight table's
# lists made by its first slot: 12,240 B after connect (14,288 B after subscribe); the
# budget that plus the same 432 B.  Then the usual PUBLISH written in place by the
# transmit buffer (no view sliced per publish) and its topic cache a dict: 12,208 B
# after connect, 4.8 B per QoS 0 publish (20.5 before); the budgets those plus the
# same margins.  Then the dicts of codec, txbuf, outbound and link a table size
# smaller (what their rarer paths use imported where it is used) and two function
# objects fewer in _compat: 12,000 B after connect (12,224 just before), per publish
# unchanged; the budget that plus the same 432 B.  Then no property on the Session or
# the Client (__getattr__ and two methods instead) and the Signal's outcome inline:
# 11,856 B after connect; the budget that plus the same 432 B.  2026-12-06, code a
# connected client never calls moved out of the core's modules (the packet-object
# writers to mqtt5.backlog, rc_error to mqtt5.reason_codes, not_connected to
# mqtt5.events, backoff's XorShift32 made by its first use): 11,728 B after connect
# (2 runs), per publish unchanged; the budget that plus the same 432 B.  2026-12-06
# later, fewer functions and dict names in the core (properties' helpers inlined, the
# Event in inbound and mqtt5.events on use, Session.connect/tick the functions
# themselves, the held ids and rare events in the receive list): 11,344 B (2 runs),
# the budget that plus the same 432 B.
BUDGETS = {
    "heap_connected": 11776,  # bytes in the heap after import + connect (incl. asyncio)
    "alloc_qos0": 8,          # bytes allocated per QoS 0 publish (4.8 B, every run)
    "alloc_qos1": 72,         # bytes allocated per QoS 1 publish, PUBACK awaited (65.0 B)
}


@pytest.mark.runtimes((M32_FROZEN,))
def test_heap_budgets_on_the_32bit_frozen_build(runtime, broker):
    got = {r["fig"]: r["value"] for r in
           run(runtime, WORKLOAD, "mem", broker.port, heapsize="256k").records if "fig" in r}
    over = {k: (got.get(k), limit) for k, limit in BUDGETS.items()
            if got.get(k) is None or got[k] > limit}
    assert not over, "over budget (measured, budget): %r; all figures: %r" % (over, got)


# The bench's fixed workload (connect, subscribe, 1,000 QoS 0 + 200 QoS 1 publishes,
# disconnect): its minimum -X heapsize on the frozen 32-bit build was 36 KiB
# (bench/run.py search, 2026-11-30; 38 KiB before issue 11), 33 KiB with the
# high-water-mark buffers (2026-12-01, 1 KiB steps: 36 passes and 35 fails before
# them, 33 passes and 32 fails after), 31 KiB with the lazy Router/Message/control as
# well (31 passes, 30 fails), 30 KiB once message delivery and the server's half of
# the codec left the core (30 passes, 29 fails), 29 KiB once a normal DISCONNECT is
# queued as its two bytes without loading the control packets (29 passes, 28 fails);
# it must still complete within that plus 2 KiB.  2026-12-03: the bench's search says
# 23 KiB; run as here (the workload compiled from source inside the heap) 28 passes
# and 27 fails.  2026-12-04, after the day's cuts (bench: 21 KiB): 25 passes (6 of 6)
# and 24 fails (2 of 2), so the budget is 27 KiB.
FIXED_HEAP_KIB = 27


@pytest.mark.runtimes((M32_FROZEN,))
def test_fixed_workload_within_its_heap_budget(runtime, broker):
    res = run(runtime, WORKLOAD, "fixed", broker.port, heapsize="%dk" % FIXED_HEAP_KIB,
              timeout=120)
    assert any(r.get("fixed") == "ok" for r in res.records), res.stdout[-2000:]


def test_lazy_public_names_agree_with_the_private_consts():
    # properties, packets and session resolve their public constant names on first
    # use (string tables in mqtt5.names); the library itself uses private consts.  On
    # CPython const() is the identity, so both are visible here and must agree.
    import re
    import sys

    sys.path.insert(0, os.path.join(ROOT, "lib"))
    import mqtt5.names as names
    import mqtt5.packets as p
    import mqtt5.properties as pr
    import mqtt5.session as s

    checked = 0
    for mod, table in ((p, names.PACKETS), (pr, names.PROPERTIES)):
        for name, value in re.findall(r"(\w+)=(\w+)", table):
            assert getattr(mod, name) == int(value, 0) == getattr(mod, "_" + name), name
            checked += 1
    assert checked == 15 + 35
    # the event kinds, session states and subscription options, from mqtt5.session
    public = dict((name, int(value, 0)) for name, value in re.findall(r"(\w+)=(\w+)", names.SESSION))
    assert len(public) == 12 + 3, public
    for name, value in public.items():
        assert getattr(s, name) == value, name
    assert (s.CONNECTED, s.LINK_DEAD, s.REAUTHENTICATED, s.ESTABLISHED) == (1, 7, 9, 2)
    # modules keep private copies of the event kinds, states, slot kinds and
    # property ids they test (const() inlines them on MicroPython)
    import importlib

    import mqtt5.inbound as inb
    import mqtt5.outbound as fl
    import mqtt5.keepalive as ka
    import mqtt5.rxbuf as rb
    import mqtt5.txbuf as tb
    # (inflight's and keepalive's own are private too: CPython still sees them; the
    # slots of the buffers' and the held ids' lists are copied by name)
    homes = [(m, n) for m in (fl, ka) for n in dir(m)
             if n.isupper() and not n.startswith("__")]
    homes += [(m, n) for m, pre in ((rb, "_RX_"), (tb, "_TX_"), (inb, "_H_")) for n in dir(m)
              if n.startswith(pre)]
    homes += [(inb, "_POS_MASK"), (tb, "_ACK_ROOM"), (tb, "_INITIAL")]
    homes += [(pr, n) for n in re.findall(r"(\w+)=", names.PROPERTIES)]
    homes += [(s, n) for n in public]
    copies = 0
    for name in ("session", "link", "inbound", "outbound", "keepalive", "txbuf", "rxbuf",
                 "auth", "qos2", "backlog", "session_lost", "aliases", "drain"):
        mod = importlib.import_module("mqtt5." + name)
        for home, n in homes:
            copy = n if n.startswith("_") else "_" + n
            if hasattr(mod, copy) and (home is s or home.__name__ != mod.__name__):
                assert getattr(mod, copy) == getattr(home, n), (mod.__name__, n)
                copies += 1
    assert copies > 40, copies
    for mod in (p, pr, s):
        try:
            getattr(mod, "NO_SUCH_NAME")
        except AttributeError:
            pass
        else:
            raise AssertionError("%s.NO_SUCH_NAME resolved" % mod.__name__)


@pytest.mark.runtimes((M32_FROZEN,))
def test_heapmap_accounts_for_the_connected_client(runtime, broker):
    # bench/heapmap.py: the objects a connected client keeps, from the GC block map,
    # and the dict tables they hold.  Its sum of the client's objects agrees with the
    # gc.mem_alloc() figure of the budget test above (the probe's own frame and the
    # block map's attribution of reused blocks make up the difference).
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import heapmap

    res = run(runtime, heapmap.PROBE, "client", broker.port, heapsize="64k")
    maps, dicts = heapmap.parse(res.stdout)
    got = heapmap.census(maps)
    client = sum(b for _, b in got.values())
    asyncio_bytes = sum(b for _, b in heapmap.census(maps, "asyncio", "start").values())
    assert 100 < got["B"][0] < 400 and got["M"][0] <= 20, got   # functions, modules
    assert 0.8 * BUDGETS["heap_connected"] < client + asyncio_bytes \
        <= BUDGETS["heap_connected"], (client, asyncio_bytes)
    names = {d["dict"]: d["names"] for d in dicts}
    assert names["Session()"] >= 40 and names["mqtt5.session"] <= 17, names
    assert heapmap.table_slots(17) == 17 and heapmap.table_slots(18) == 23
    report = heapmap.report(maps, dicts)
    # one module dict per module object counted above
    assert "| module | %d |" % got["M"][0] in report and "instance Session()" in report, report


# The whole node after boot (bench/heapmap.py --node: the firmware frozen, booted as
# a board boots it, 3 s of readings, an event and stats), incl. asyncio: 36,080 B on
# 2026-12-04, the same in every run (36,416 B before the command limits became
# private consts and main.py imported what only Node() names where Node() uses it);
# 35,856 B once the library's modules stopped keeping `const` and lost three methods,
# 35,680 B with three functions fewer and three dicts a step smaller; 35,344 B with
# five lists fewer and seven functions without defaults in the library.  2026-12-05,
# the adapter rewritten (one class, 23 functions in client and link where there were
# 38): 34,240 B (35,232 B for the tree before, measured the same day); the budget
# lowered by the difference.  With the codec and session reworked as well: 32,944 B,
# the budget that plus the same 608 B.  With subcodec (the node's subscribes load no
# packet class) and the in-flight lists made by the first slot: 32,352 B, the budget
# that plus the same 608 B.  With the library's module dicts a size smaller: 32,096 B
# (32,304 B for the tree before, measured the same day), the budget that plus 608 B.
# With no property on the Session or the Client: 31,952 B, the budget that plus 608 B.
# 2026-12-06, the node's whole receive buffer reserved at boot (2,048 B: one large
# request ended every link of a 48 KiB node) and the subscription fixes: 34,048 B,
# the budget that plus 608 B.  The same day, code the node never calls moved out of
# the library's core modules (test_heap_budgets_on_the_32bit_frozen_build): 31,584 B
# besides asyncio's 2,096, the budget 33,680 B plus 608 B.  Later, the library's core
# with fewer functions and dict names (BUDGETS above): 31,248 B (2 runs), the budget
# 33,344 B plus 608 B.
NODE_BUDGET = 33952


@pytest.mark.runtimes((M32_FROZEN,))
def test_heapmap_accounts_for_the_whole_node_after_boot(runtime, broker, tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import heapmap

    out = heapmap.run_node(broker, str(tmp_path / "home"))
    assert "status online" in out and "-> stats " in out, out[-2000:]
    maps, dicts = heapmap.parse(out)
    phase = heapmap.quietest(maps)
    node = sum(b for _, b in heapmap.census(maps, phase).values())
    asyncio_bytes = sum(b for _, b in heapmap.census(maps, "asyncio", "start").values())
    assert 0.8 * NODE_BUDGET < node + asyncio_bytes <= NODE_BUDGET, (node, asyncio_bytes)
    slots = {d["dict"]: heapmap.table_slots(d["names"]) for d in dicts}
    # the firmware's modules: one name more and commands' or main's dict grows a step
    assert slots["commands"] <= 23 and slots["main"] <= 17, slots
    assert "mqtt5.client" in slots and "payload" in slots and "board" in slots, slots
    report = heapmap.report(maps, dicts, phase, "the node")
    assert "the node, after boot" in report and "module commands" in report, report
    # the goodbye (`offline` acknowledged, then DISCONNECT) loads no more of asyncio:
    # asyncio.wait_for's module would need heap when a node that ran it full has least
    assert "status offline, disconnected" in out, out[-2000:]
    after = [line for line in out.splitlines() if line.startswith('{"asyncio_after_stop"')]
    assert after and "asyncio.funcs" not in after[0], after


# The whole node as `fieldnode deploy` installs it on a stock 32-bit firmware: every
# module of lib/, firmware/ and the board as .mpy from the filesystem, so their
# bytecode and the names they intern live in the heap (bench/workloads/node.py, the
# same config and measure: 131,472 B after boot in every run on 2026-12-04 with the
# modules' absolute paths under the checkout, 130,000 B with paths as short as a
# board's, against 34,336 B frozen; the minimum heapsize 152 and 148 KiB).  A board
# that can spare less needs the frozen image.  2026-12-05, the adapter rewritten:
# 126,928 B (128,768 B for the tree before, measured the same day); the budget lowered
# by the difference.  With the codec and session reworked as well: 123,984 B, the
# budget that plus the same 4,352 B.  With subcodec as well: 121,392 B, the budget
# that plus the same 4,352 B.  121,648 B after the in-place PUBLISH writer, 121,568 B
# with the module dicts a size smaller, 121,536 to 121,632 B with no property on the
# Session or the Client (the budget unchanged).  Later that day the node grew by its
# stats buffer (512 B) and link lines to 125,968 B (measured by this test in a
# worktree), and by stop 55's fixes (strings the client may not send, a clock retry
# apart from the Wi-Fi, a payload's CRC in the Responder's memory) to 126,048 B: the
# budget that plus 416 B.  The hint after 3 connects closed before CONNACK (stop 56)
# took it from 126,128 to 126,432 B in /work/main: the budget that plus 416 B.  The
# rest of stop 56 (a broker URL's characters checked, the Supervisor's re-subscribe
# after a refusal, the watchdog armed before the Wi-Fi join) to 126,768 B: the
# budget that plus 416 B.  Stop 57's fixes (the birth queued once, a mqtts:// default
# broker without a CA named, a handler's MemoryError answered small, an event dropped by a
# stop said so) to 127,296 B: the budget that plus 416 B.  Then a waiting publish's copy
# of a mutable payload and the wait for a free in-flight slot (stop 57's client API
# audit) to 127,840 B: the budget that plus 416 B.  A sensor's failures and a reading's
# refusals logged once a run (two bytearrays on the App; mostly a step of the .mpy
# names' pool) to 128,544 B: the budget that plus 416 B.  Stop 58: the Requester and
# the Responder in modules of their own (the node loads only the Responder's), and the
# birth's outcome logged (its detached slot, the stats' `refused`): 127,024 to 127,088 B
# in two runs, the budget that plus 416 B.  Then nothing but `offline` after a stop
# began and a repeated request logged: 127,328 B, the budget that plus 416 B.  Then
# connect_timeout_s and up to 4 events in flight: 127,680 B, the budget that plus 416 B
# (134 to 138 KiB ran, 132 failed).  Then the subscriptions remembered per filter, a
# refused unsubscribe kept, expired queue entries told while down: 128,688 B (twice),
# the budget that plus 416 B (135 and 136 KiB ran, 133 and 134 failed).  Then the
# receive buffer reserved whole at boot (2,048 B) and the review's subscription fixes:
# 131,216 B (twice), the budget that plus 416 B.  Then the library's core with fewer
# functions and dict names (2026-12-06): 129,792 B (twice), the budget that plus 416 B.
# Then a review's fixes (the offline queue's expired entries, a new error per drop, a
# publish's copy of a mutable payload kept for its resend, the counters' wrap, the
# keeper's span), then the second review's (a host name's labels checked, a caller's
# Topic Alias checked and never resent, a code only a server sends kept out of our
# DISCONNECT, escaped names in strictjson): 130,960 B (twice), the budget that plus 416 B.
# Then a third review's (broker_timeout_s through the boot join, the first stats once
# up, the button's IRQ set up safely, replies stopped with the goodbye, an in-flight
# message's expiry aged, a port's digits ASCII): 131,296 B (twice; a clean clone in a
# longer path read 131,392), the budget that plus 416 B.
NODE_MPY_BUDGET = 131712


@pytest.mark.runtimes((M32,))
def test_node_loaded_as_mpy_within_its_heap_budget(runtime, broker):
    sys.path.insert(0, os.path.join(ROOT, "bench", "workloads"))
    import node

    after_boot = node.heap_after_boot(broker, runtime, 4)
    assert 0.9 * NODE_MPY_BUDGET < after_boot <= NODE_MPY_BUDGET, after_boot


@pytest.mark.runtimes(("micropython", M32, M32_FROZEN))
def test_node_runs_in_the_heap_fieldnode_deploy_states(runtime, broker):
    # `fieldnode deploy` warns a board whose heap is below NODE_HEAP_KIB (the node as
    # .mpy, by word size) and names FROZEN_HEAP_KIB for a firmware with the node frozen
    # in: the node must run in each (online, readings, an event, stats, a clean stop)
    sys.path.insert(0, os.path.join(ROOT, "bench", "workloads"))
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import node
    from fieldnode.deploy import FROZEN_HEAP_KIB, NODE_HEAP_KIB

    kib = {"micropython": NODE_HEAP_KIB[64], M32: NODE_HEAP_KIB[32]}.get(runtime,
                                                                       FROZEN_HEAP_KIB)
    ok, out = node.runs_in(broker, kib, 6, runtime)
    assert ok, out[-2000:]


# The .mpy node's smallest heap is where fragmentation leaves room for its stats: the
# transmit buffer grown on first use needed a ~440-byte block that a heap cut up by
# loading the .mpy files could lack with 17 KB free (140 KiB was the smallest heap on
# 2026-12-05; at 136 KiB every run skipped its stats).  main.py now reserves that room
# at boot (Client.reserve()): 132 KiB runs, so 136 KiB is the guard.  Later that day the
# stats JSON moved into a 512-byte buffer made at boot (App.stats_json): 133, 134 and
# 135 KiB ran with no stats skipped, where before 133-136 KiB skipped most of them.
# On 2026-12-06 (stop 57's fixes, 127,840 B after boot) 132-136 KiB failed at boot
# (MemoryError) and 138 and 140 KiB ran: 140 KiB is the guard.  At stop 58 (127,088 B
# after boot, the Requester no longer loaded) 134 to 138 KiB ran, 130, 132 and 133 failed
# (the Responder's subscribe found no 467-byte block): 136 KiB is the guard.  With the
# receive buffer reserved whole at boot (131,216 B after boot) 134 and 136 KiB ran but
# skipped some stats in one run, 138 KiB sent every one: 138 KiB is the guard.  After
# the day's third review (131,440 B after boot, 2026-12-06), 5 runs each: 136 KiB
# skipped stats in 5, 138 KiB in 2 (one failed `make test`), 140 KiB in none: 140 KiB
# is the guard.
NODE_MPY_MIN_KIB = 140


@pytest.mark.runtimes((M32,))
def test_node_as_mpy_sends_its_stats_in_a_fragmented_heap(runtime, broker):
    sys.path.insert(0, os.path.join(ROOT, "bench", "workloads"))
    import node

    ok, out = node.runs_in(broker, NODE_MPY_MIN_KIB, 6, runtime)
    assert ok, out[-2000:]
    # every stats message went (4-5 in a run), none skipped for lack of heap
    assert "stats skipped" not in out, out[-2000:]
