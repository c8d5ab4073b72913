"""QoS 2 acknowledgements from the server (spec 4.3.3): PUBREC and PUBCOMP for our
QoS 2 publishes, PUBREL for the server's.  Loaded by inbound.handle() on the first
one, so a node that only uses QoS 0/1 never carries it."""

from ._compat import const


from .inbound import complete

_PUBLISH_DONE = const(3)
_WAIT_PUBREC = const(2)
_WAIT_PUBCOMP = const(3)
_RESEND = const(0x20000)

_PUBREC = const(5)
_PUBREL = const(6)
_PUBCOMP = const(7)


def on_ack(s, ptype, pkt):
    """Act on a PUBREC, PUBCOMP or PUBREL; True when s._ev was filled (the contract
    of inbound.handle)."""
    fl = s._inflight
    pid = pkt.packet_id
    if ptype == _PUBREC:
        i = fl.find(pid, _WAIT_PUBREC)
        if i < 0:  # a repeated PUBREC gets its PUBREL again, else 0x92 Packet
            # Identifier not found
            s._tx.ack(_PUBREL, pid, 0 if fl.find(pid, _WAIT_PUBCOMP) >= 0 else 0x92)
            return False
        rc = pkt.reason_code
        if rc >= 0x80:  # flow ends, no PUBREL [MQTT-4.3.3-4]
            return complete(s, i, _PUBLISH_DONE, pkt, rc, "PUBREC")
        fl.set_queued(i, False)  # (a PUBREC for a resend not yet made)
        fl.state[i] = _WAIT_PUBCOMP | rc << 8 | fl.state[i] & _RESEND  # keep 0x10
        fl.topic[i] = fl.payload[i] = None  # never resent after PUBREL [MQTT-4.3.3-6]
        s._tx.ack(_PUBREL, pid, 0)
        return False
    if ptype == _PUBCOMP:
        i = fl.find(pid, _WAIT_PUBCOMP)
        if i < 0:
            return False
        rc = pkt.reason_code
        return complete(s, i, _PUBLISH_DONE, pkt, rc if rc else (fl.state[i] >> 8) & 0xFF,
                        "PUBCOMP")
    if ptype == _PUBREL:
        # answer PUBCOMP [MQTT-4.3.3-11]; the id is then free for a new message
        # [MQTT-4.3.3-12]
        held = s._held.remove(pid)
        s._tx.ack(_PUBCOMP, pid, 0 if held else 0x92)
        if held:  # unacknowledged for the server until the PUBCOMP is written
            s._held.ack_queued(s._tx.end_pos())
        return False
