# firmware/main.py with, in the node's own event loop,
#  - a heap hog: a file sim/hog holding "<ms>" makes it take the whole heap (all it
#    can allocate), hold it <ms>, then release it and print "hog: released";
#  - an injection: a file sim/fail_guard makes the next asyncio.create_task of a
#    handler task (mqtt5.message _guard) raise MemoryError, once per file (the file is
#    removed and "inject: MemoryError injected" printed when it fires).
import asyncio
import gc
import os

HOME = os.getenv("FIELDNODE_HOME")
_ct = asyncio.create_task
_run = asyncio.run


def _take(name):
    p = HOME + "/sim/" + name
    try:
        with open(p) as f:
            t = f.read()
        os.remove(p)
        return t
    except OSError:
        return None


def create_task(coro):
    r = repr(coro)  # a handler task (mqtt5.message _guard) or a Responder's (_answer)
    if ("_guard" in r or "_answer" in r) and _take("fail_guard") is not None:
        coro.close()
        print("inject: MemoryError injected")
        raise MemoryError("injected")
    return _ct(coro)


asyncio.create_task = create_task


async def hog():
    while True:
        await asyncio.sleep_ms(100)
        t = _take("hog")
        if t is None:
            continue
        ms = int(t[1:]) if t[:1] == "x" else int(t)
        held = [None]  # [0]: the chain
        for size in (4096, 512, 64, 16):
            try:
                while True:
                    held.append(bytearray(size))
            except MemoryError:
                pass
        if t[:1] == "x":  # squeeze the fragments too: a chain, no list to grow
            chain = None
            n = 0
            for size in (256, 64, 16, 8):
                try:
                    while True:
                        chain = (chain, bytearray(size))
                        n += 1
                except MemoryError:
                    pass
            held[0] = chain
        try:
            print("hog: holding %d blocks, %d B free" % (len(held), gc.mem_free()))
        except MemoryError:
            pass
        await asyncio.sleep_ms(ms)
        n = len(held)
        held = None
        gc.collect()
        print("hog: released %d blocks" % n)


def run(coro):
    async def both():
        _ct(hog())
        await coro
    return _run(both())


asyncio.run = run
import main  # noqa: E402,F401  (boots the node)
