# What a connected client keeps in the heap, object by object (bench/heapmap.py runs
# it on the 32-bit frozen build).  Prints JSON lines:
#   {"map": PHASE, "layout": "..."}   the GC block map of micropython.mem_info(1)
#   {"dict": NAME, "kind": "module"|"class", "names": N}
import gc
import sys

import micropython

PORT = int(sys.argv[1])


def dump(phase):
    # mem_info(1) prints the block map to stdout; capture it by line
    gc.collect()
    print('{"map": "%s", "begin": 1}' % phase)
    micropython.mem_info(1)
    print('{"map": "%s", "end": 1}' % phase)


dump("start")
import asyncio  # noqa: E402

dump("asyncio")
from mqtt5 import Client  # noqa: E402


async def main():
    c = Client("heapmap-%d" % PORT)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    dump("connected")
    for name in sorted(sys.modules):
        if name != "mqtt5" and not name.startswith("mqtt5."):
            continue
        d = sys.modules[name].__dict__
        print('{"dict": "%s", "kind": "module", "names": %d}' % (name, len(d)))
        for k in d:
            v = d[k]
            if type(v) is type and v.__module__ == name:
                print('{"dict": "%s.%s", "kind": "class", "names": %d}'
                      % (name, k, len(v.__dict__)))
    for label, obj in (("Client", c), ("Session", c._s)):
        print('{"dict": "%s()", "kind": "instance", "names": %d}' % (label, len(obj.__dict__)))
    await c.disconnect()


asyncio.run(main())
