"""One connection of the fault proxy (fault_proxy.py): the client and broker sockets,
byte counts and capture, and what waits to be written each way; and the RST close
the proxy cuts sockets with."""

import collections
import socket
import struct
import time

from mqtt_split import split_mqtt


def _rst_close(sock):
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Connection:
    """One proxied client connection (client socket <-> broker socket)."""

    def __init__(self, cid, client, server, capture):
        self.id = cid
        self.client = client
        self.server = server
        self.opened_at = time.monotonic()
        self.closed_at = None
        self.close_reason = None
        self.bytes_up = 0        # client -> broker
        self.bytes_down = 0      # broker -> client
        self.up = bytearray() if capture else None
        self.down = bytearray() if capture else None
        # per destination socket: deque of [release_time, memoryview]
        self._out = {client: collections.deque(), server: collections.deque()}
        self._eof = {client: False, server: False}   # read side finished
        self._shut = {client: False, server: False}  # write side shut (FIN sent)
        self._dropping = False  # disconnect(): the client's bytes go nowhere
        self._partial = bytearray()  # drop(): broker bytes not yet a whole packet
        self.dropped = 0  # drop(): packets dropped on this connection

    @property
    def alive(self):
        return self.closed_at is None

    def peer(self, sock):
        return self.server if sock is self.client else self.client

    def pending(self, dst):
        return sum(len(c[1]) for c in self._out[dst])

    def mqtt_packets(self, direction="up"):
        """The captured bytes of one direction split into MQTT packets:
        list of (packet_type, bytes); an incomplete tail is left out."""
        data = self.up if direction == "up" else self.down
        if data is None:
            raise RuntimeError("FaultProxy(capture=True) is needed for packet capture")
        return split_mqtt(bytes(data))

    def __repr__(self):
        return "<Connection %d %s up=%d down=%d>" % (
            self.id, "alive" if self.alive else "closed", self.bytes_up, self.bytes_down)

