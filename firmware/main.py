"""Fieldnode entry point: announce availability on <prefix>/<device_id>/status.

Minimal node until the firmware application lands: it connects with a will of
`offline` (QoS 1, retained), publishes the birth `online` (QoS 1, retained),
stays connected (keep-alive), and on Ctrl-C publishes `offline` and disconnects
cleanly. Board specifics (device id, broker URL) come from the `board` module of
boards/<board>/.
"""

import asyncio

import board
from mqtt5 import Client, Will

PREFIX = "fieldnode/v1"
KEEPALIVE_S = 30


class Node:
    def __init__(self, device_id, url):
        self.device_id = device_id
        self.url = url
        self.status_topic = PREFIX + "/" + device_id + "/status"
        self.client = Client(device_id, keepalive=KEEPALIVE_S,
                             will=Will(self.status_topic, b"offline", qos=1, retain=True))
        self.stopped = False

    async def serve(self):
        print("node: connecting to %s as %s" % (self.url, self.device_id))
        await self.client.connect(self.url)
        print("node: connected to %s" % self.url)
        await self.client.publish(self.status_topic, b"online", qos=1, retain=True)
        print("node: %s online (Ctrl-C to stop)" % self.status_topic)
        try:
            await self.client.wait_closed()
            print("node: connection closed")
        except asyncio.CancelledError:
            # CPython: Ctrl-C cancels the main task; say goodbye first.
            await self.stop()
            raise

    async def stop(self):
        if self.stopped or not self.client.is_connected:
            return
        self.stopped = True
        await self.client.publish(self.status_topic, b"offline", qos=1, retain=True)
        await self.client.disconnect()
        print("node: %s offline, disconnected" % self.status_topic)


def main():
    node = Node(board.unique_id(), board.default_broker())
    try:
        asyncio.run(node.serve())
    except KeyboardInterrupt:
        # MicroPython: Ctrl-C stops the loop where it is; the client's tasks are
        # intact, so run the goodbye on the same loop.
        asyncio.run(node.stop())


main()
