"""Bounded in-flight bookkeeping for the session: packet ids and outbound slots.

A table of at most ``size`` unacknowledged outbound packets (PUBLISH QoS>0, SUBSCRIBE,
UNSUBSCRIBE), with packet-id allocation.  No per-message objects: slots are parallel
lists, made when every slot made so far is busy, and never given back (a node that
never has more than one message in flight keeps one slot; nothing is allocated once
the table has reached the most that were in flight at once).

The table is a list the session keeps (slots ``_F_*`` below; the modules that read it
keep copies), not an object, as the transmit buffer's:
- ``pid``: per slot, its packet id (0 = free);
- ``state``: wait kind | PUBREC reason code << 8 | QUEUED | RESEND | RETAIN (a
  PUBLISH's QoS is 1 for WAIT_PUBACK, else 2);
- ``order``: a stamp per slot, increasing, so a resend goes out in the original order
  [MQTT-4.6.0-1];
- ``topic``, ``payload``, ``props``: for PUBLISH what the caller passed (references,
  kept for resend on session resumption [MQTT-4.4.0-1]); for SUBSCRIBE/UNSUBSCRIBE the
  list of topics (one reason code comes back for each) and props;
- ``publishes``: PUBLISH slots in use, the Receive Maximum quota [MQTT-3.3.4-7];
- ``queued``: QUEUED slots (waiting to be encoded by backlog.pump());
- ``last``: the last packet id handed out; ``stamp``: the last order stamp; ``size``.
"""

from .errors import MQTTError

_F_PID = const(0)
_F_STATE = const(1)
_F_ORDER = const(2)
_F_TOPIC = const(3)
_F_PAYLOAD = const(4)
_F_PROPS = const(5)
_F_PUBLISHES = const(6)
_F_QUEUED = const(7)
_F_LAST = const(8)
_F_STAMP = const(9)
_F_SIZE = const(10)

# slot kinds (low byte of a slot's state): the acknowledgement a slot waits for
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


def new(size):
    """An empty table of at most ``size`` slots."""
    return [[], [], [], [], [], [], 0, 0, 0, 0, size]


def find(fl, pid, state):
    """Slot index holding pid, waiting for ``state`` (a wait kind), or -1."""
    p = fl[_F_PID]  # busy slots have unique ids [MQTT-2.2.1-3]; 0 (free): the first
    if pid not in p:  # searched in C, not by a loop here
        return -1
    i = p.index(pid)
    if fl[_F_STATE][i] & 0xFF != state:
        return -1
    return i


def alloc(fl, state):
    """Take a free slot for a new packet id; returns the slot index.  MQTTError when
    all ``size`` slots are taken."""
    p = fl[_F_PID]  # (searched in C: `in`, index())
    if 0 in p:
        i = p.index(0)
    else:  # every slot made so far is busy: one more, up to size
        i = len(p)
        if i >= fl[_F_SIZE]:
            raise MQTTError("no free in-flight slot")
        for k in range(_F_PROPS, _F_PID - 1, -1):  # the ids last: a MemoryError
            fl[k].append(None if k >= _F_TOPIC else 0)  # before leaves no half slot
    pid = fl[_F_LAST]  # the next free id, 1..65535 wrapping, skipping those in use
    while True:  # [MQTT-2.2.1-3]
        pid = pid + 1 if pid < _MAX_PID else 1
        if pid not in p:
            break
    p[i] = fl[_F_LAST] = pid
    fl[_F_STATE][i] = state
    fl[_F_STAMP] += 1
    fl[_F_ORDER][i] = fl[_F_STAMP]
    if state & 0xFF <= _WAIT_PUBCOMP:  # (the RETAIN bit above the wait kind)
        fl[_F_PUBLISHES] += 1
    return i


def awaiting(fl):
    """True when a packet sent on this connection waits for its acknowledgement."""
    st = fl[_F_STATE]
    p = fl[_F_PID]
    for i in range(len(p)):
        if p[i] and not st[i] & _QUEUED:
            return True
    return False


def set_queued(fl, i, on):
    """Mark slot i as waiting to be encoded (on) or as encoded (off)."""
    st = fl[_F_STATE]
    if on and not st[i] & _QUEUED:
        st[i] |= _QUEUED
        fl[_F_QUEUED] += 1
    elif not on and st[i] & _QUEUED:
        st[i] &= ~_QUEUED
        fl[_F_QUEUED] -= 1


def free(fl, i, unsent):
    """Release slot i: its packet id may be reused from now on [MQTT-2.2.1-3].
    unsent: the packet never went out (encoding failed): hand its id out again."""
    p = fl[_F_PID]
    if unsent and p[i] == fl[_F_LAST]:
        fl[_F_LAST] -= 1
    st = fl[_F_STATE][i]
    if st & 0xFF <= _WAIT_PUBCOMP:
        fl[_F_PUBLISHES] -= 1
    if st & _QUEUED:
        fl[_F_QUEUED] -= 1
    p[i] = 0
    fl[_F_STATE][i] = 0
    fl[_F_TOPIC][i] = fl[_F_PAYLOAD][i] = fl[_F_PROPS][i] = None
