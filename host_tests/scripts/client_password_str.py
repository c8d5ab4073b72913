"""Client(password=<str>) logs in: the password is sent UTF-8 encoded (it used to
fail inside connect with 'expected bytes')."""

import asyncio
import json
import sys

from mqtt5 import Client


async def main(port):
    for pw in ("r1ght-ünï", b"r1ght-\xc3\xbcn\xc3\xaf"):
        c = Client("pw-" + type(pw).__name__, username="node", password=pw)
        try:
            await c.connect("mqtt://127.0.0.1:%d" % port)
            print(json.dumps({"type": type(pw).__name__, "connected": c.is_connected}))
            await c.disconnect()
        except Exception as e:
            print(json.dumps({"type": type(pw).__name__, "connected": False, "error": repr(e)}))


asyncio.run(main(int(sys.argv[1])))
