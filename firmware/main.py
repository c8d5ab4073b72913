"""Fieldnode entry point: announce availability on <prefix>/<device_id>/status.

Minimal node until the firmware application lands. A Supervisor keeps the
client connected (backoff with jitter, session resumption, offline queue); the
connection carries a will of `offline` (QoS 1, retained), and every time the
link comes up the node publishes the birth `online` (QoS 1, retained), so the
retained status is right again after the broker or the network came back. On
Ctrl-C it publishes `offline` and disconnects cleanly. Board specifics (device
id, broker URL) come from the `board` module of boards/<board>/.
"""

import asyncio

import board
from mqtt5 import Client, Will
from mqtt5.supervisor import STOPPED, UP, Supervisor

PREFIX = "fieldnode/v1"
KEEPALIVE_S = 30
SESSION_EXPIRY_S = 3600
_STATE_NAMES = ("down", "connecting", "up", "stopped")


class Node:
    def __init__(self, device_id, url):
        self.device_id = device_id
        self.url = url
        self.status_topic = PREFIX + "/" + device_id + "/status"
        self.client = Client(device_id, keepalive=KEEPALIVE_S,
                             session_expiry=SESSION_EXPIRY_S, topic_alias_out=8,
                             # Debian's Mosquitto bursts QoS 1 past our Receive
                             # Maximum: ack them rather than drop the link
                             strict_receive_maximum=False,
                             will=Will(self.status_topic, b"offline", qos=1, retain=True))
        self.sup = Supervisor(self.client, [url], on_state=self._on_state)
        self._birth = asyncio.Event()
        self.stopped = False

    def _on_state(self, sup, state, reason):
        msg = "node: link %s" % _STATE_NAMES[state]
        if reason is not None:
            msg += " (%s)" % reason
        if state == UP:
            msg = "node: connected to %s" % sup.url
        if state == UP or state == STOPPED:
            self._birth.set()
        print(msg)

    async def serve(self):
        print("node: connecting to %s as %s" % (self.url, self.device_id))
        self.sup.start()
        try:
            while True:
                await self._birth.wait()
                self._birth.clear()
                if self.sup.state == STOPPED:
                    break
                await self.client.publish(self.status_topic, b"online", qos=1, retain=True)
                print("node: %s online (Ctrl-C to stop)" % self.status_topic)
            print("node: supervisor stopped: %s" % self.sup.reason)
        except asyncio.CancelledError:
            # CPython: Ctrl-C cancels the main task; say goodbye first.
            await self.stop()
            raise

    async def stop(self):
        if self.stopped:
            return
        self.stopped = True
        if self.client.is_connected:
            await self.client.publish(self.status_topic, b"offline", qos=1, retain=True)
        await self.sup.stop()
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
