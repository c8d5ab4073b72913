# What the heap holds, object by object (bench/heapmap.py runs it on the 32-bit frozen
# build):
#   heapmap_probe.py client PORT     a client connected to the broker on PORT
#   heapmap_probe.py node SECONDS    the whole node, SECONDS after it booted (4 maps,
#                                    0.25 s apart)
# The node boots as a flashed board does (`import main`), with the unix board's
# environment (FIELDNODE_HOME, FIELDNODE_BROKER, ...) set by the caller; its first
# asyncio.run() is wrapped so that the map is dumped while it runs, and then raises
# KeyboardInterrupt: the node stops as after Ctrl-C (then it prints which asyncio
# modules are loaded).  Prints JSON lines around
# MicroPython's GC block map (micropython.mem_info(1)) and, once it has run, one
# {"dict": NAME, "kind": "module"|"class"|"instance", "names": N} per dict counted.
import gc
import sys

import micropython

MODE, ARG = sys.argv[1], int(sys.argv[2])


def dump(phase):
    # mem_info(1) prints the block map to stdout; capture it by line
    gc.collect()
    print('{"map": "%s", "begin": 1}' % phase)
    micropython.mem_info(1)
    print('{"map": "%s", "end": 1}' % phase)


def dicts(counted):
    # the dict of every loaded module `counted` names, and of the classes it defines
    for name in sorted(sys.modules):
        if not counted(name):
            continue
        d = sys.modules[name].__dict__
        print('{"dict": "%s", "kind": "module", "names": %d}' % (name, len(d)))
        for k in d:
            v = d[k]
            if type(v) is type and v.__module__ == name:
                print('{"dict": "%s.%s", "kind": "class", "names": %d}'
                      % (name, k, len(v.__dict__)))


dump("start")
import asyncio  # noqa: E402

dump("asyncio")
if MODE == "client":
    from mqtt5 import Client

    async def connected():
        c = Client("heapmap-%d" % ARG)
        await c.connect("mqtt://127.0.0.1:%d" % ARG)
        dump("connected")
        dicts(lambda name: name == "mqtt5" or name.startswith("mqtt5."))
        for label, obj in (("Client", c), ("Session", c._s)):
            print('{"dict": "%s()", "kind": "instance", "names": %d}'
                  % (label, len(obj.__dict__)))
        await c.disconnect()

    asyncio.run(connected())
else:
    before = set(sys.modules)
    run = asyncio.run

    def booted(node):
        asyncio.run = run  # the node's own stop() runs on the real one

        async def boot():
            asyncio.create_task(node)
            await asyncio.sleep(ARG)
            for i in range(4):  # a message in flight comes and goes: heapmap.py keeps
                dump("node%d" % i)  # the smallest of these
                await asyncio.sleep_ms(250)
            dicts(lambda name: name not in before)
            raise KeyboardInterrupt

        return run(boot())

    asyncio.run = booted
    import main  # noqa: F401  (boots the node; returns once it has stopped)

    # what the goodbye (`offline`, then DISCONNECT) loaded of asyncio: a module loaded
    # then needs heap at the moment a node that ran its heap full has least
    print('{"asyncio_after_stop": "%s"}' % " ".join(
        sorted(n for n in sys.modules if n.startswith("asyncio"))))
