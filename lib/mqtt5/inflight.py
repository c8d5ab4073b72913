"""Bounded in-flight bookkeeping for the session: packet ids and outbound slots.

No per-message objects: slots held in parallel lists, made on demand up to a fixed
number and then reused (a node that never has more than one message in flight keeps
one slot).
"""

from .errors import MQTTError

# slot kinds (low byte of Inflight.state); the acknowledgement a slot waits for.  Private
# consts (the modules that test a slot's state keep copies): no module-dict entries
_WAIT_PUBACK = const(1)  # QoS 1 PUBLISH sent [MQTT-4.3.2-3]
_WAIT_PUBREC = const(2)  # QoS 2 PUBLISH sent [MQTT-4.3.3-3]
_WAIT_PUBCOMP = const(3)  # PUBREL sent [MQTT-4.3.3-5]
_WAIT_SUBACK = const(4)
_WAIT_UNSUBACK = const(5)
# state bits above the wait kind and the PUBREC reason code (bits 8-15)
_QUEUED = const(0x10000)  # to be (re)sent: encoded by backlog.pump(), in order
_RESEND = const(0x20000)  # went out on an earlier connection: DUP on resend
# [MQTT-3.3.1-1], lost when the server has no session [MQTT-3.2.2-5]
_RETAIN = const(0x40000)  # a PUBLISH's RETAIN flag (its QoS is the wait kind's)

_MAX_PID = const(65535)


class Inflight:
    """Table of at most ``size`` unacknowledged outbound packets (PUBLISH QoS>0,
    SUBSCRIBE, UNSUBSCRIBE), with packet-id allocation.  Slots are made when every
    slot made so far is busy, and never given back: no allocation once the table has
    reached the most that were in flight at once.

    Per slot: pid (0 = free; the table is full when no slot is free and it has
    ``size`` slots), state (wait kind | PUBREC reason code << 8 | QUEUED |
    RESEND | RETAIN: a PUBLISH's QoS is 1 for WAIT_PUBACK, else 2), and for PUBLISH
    the topic, payload and props the caller passed (references, kept for resend on
    session resumption [MQTT-4.4.0-1]); for SUBSCRIBE/UNSUBSCRIBE the list of topics
    (one reason code comes back for each) and props.
    ``queued`` counts QUEUED slots (waiting to be encoded by backlog.pump()).
    ``publishes`` counts PUBLISH slots: the Receive Maximum quota [MQTT-3.3.4-7].
    ``order`` is a monotonically increasing stamp per slot, so a resend can go out in
    the original order [MQTT-4.6.0-1].
    """

    def __init__(self, size):
        self.size = size
        self.pid = []
        self.state = []
        self.order = []
        self.topic = []
        self.payload = []
        self.props = []
        self.publishes = 0
        self.queued = 0
        self._last = 0  # last packet id handed out
        self._stamp = 0

    def find(self, pid, state):
        """Slot index holding pid, waiting for ``state`` (a wait kind), or -1."""
        p = self.pid  # busy slots have unique ids [MQTT-2.2.1-3]; 0 (free): the first
        if pid not in p:  # searched in C, not by a loop here
            return -1
        i = p.index(pid)
        if self.state[i] & 0xFF != state:
            return -1
        return i

    def alloc(self, state):
        """Take a free slot for a new packet id; returns the slot index. MQTTError when
        all ``size`` slots are taken."""
        p = self.pid  # (searched in C: `in`, index())
        if 0 in p:
            i = p.index(0)
        else:  # every slot made so far is busy: one more, up to size
            i = len(p)
            if i >= self.size:
                raise MQTTError("no free in-flight slot")
            p.append(0)
            self.state.append(0)
            self.order.append(0)
            self.topic.append(None)
            self.payload.append(None)
            self.props.append(None)
        pid = self._last  # the next free id, 1..65535 wrapping, skipping those in use
        while True:  # [MQTT-2.2.1-3]
            pid = pid + 1 if pid < _MAX_PID else 1
            if pid not in p:
                break
        p[i] = self._last = pid
        self.state[i] = state
        self._stamp += 1
        self.order[i] = self._stamp
        if state & 0xFF <= _WAIT_PUBCOMP:  # (the RETAIN bit above the wait kind)
            self.publishes += 1
        return i

    def awaiting(self):
        """True when a packet sent on this connection waits for its acknowledgement."""
        st = self.state
        for i in range(len(st)):
            if self.pid[i] and not st[i] & _QUEUED:
                return True
        return False

    def set_queued(self, i, on):
        """Mark slot i as waiting to be encoded (on) or as encoded (off)."""
        if on and not self.state[i] & _QUEUED:
            self.state[i] |= _QUEUED
            self.queued += 1
        elif not on and self.state[i] & _QUEUED:
            self.state[i] &= ~_QUEUED
            self.queued -= 1

    def free(self, i, unsent):
        """Release slot i: its packet id may be reused from now on [MQTT-2.2.1-3].
        unsent: the packet never went out (encoding failed): hand its id out again."""
        if unsent and self.pid[i] == self._last:
            self._last -= 1
        st = self.state[i]
        if st & 0xFF <= _WAIT_PUBCOMP:
            self.publishes -= 1
        if st & _QUEUED:
            self.queued -= 1
        self.pid[i] = 0
        self.state[i] = 0
        self.topic[i] = self.payload[i] = self.props[i] = None
