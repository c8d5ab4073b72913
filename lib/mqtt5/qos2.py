"""QoS 2 flows (spec 4.3.3): PUBREC and PUBCOMP for our QoS 2 publishes; the server's
QoS 2 PUBLISH, held by packet id until its PUBREL.  Loaded by inbound on the first
such packet, so a node that only uses QoS 0/1 never carries it."""

from .errors import ProtocolError
from .inbound import complete, ack_queued, over_quota
from .txbuf import ack
from .outbound import find, set_queued

_PUBLISH_DONE = const(3)
_WAIT_PUBREC = const(2)
_WAIT_PUBCOMP = const(3)

_PUBREC = const(5)
_PUBREL = const(6)
_PUBCOMP = const(7)
# not strict (strict_receive_maximum=False): ids held over receive_maximum that are
# tolerated; the server is refused (0x93) past that. Debian's Mosquitto 2.0.11 held
# up to 128 (receive_maximum 2) and 256 (16) in a 400-message QoS 2 burst; 4 B each
# on a 32-bit port
_SLACK = const(512)
_KA_ACK_SINCE = const(5)  # keepalive.py's slots
_KA_NOW = const(6)
_F_STATE = const(1)  # slot of the in-flight table (outbound.py)
_H_IDS = const(7)  # slots of the receive list's held ids (inbound.py)
_H_COUNT = const(8)


def on_ack(s, ptype, pkt):
    """Act on a PUBREC, PUBCOMP or PUBREL; True when s._ev was filled (the contract
    of inbound.handle)."""
    fl = s._inflight
    pid = pkt.packet_id
    if ptype == _PUBREC:
        i = find(fl, pid, _WAIT_PUBREC)
        if i < 0:  # a repeated PUBREC gets its PUBREL again, else 0x92 Packet
            # Identifier not found
            ack(s._tx, _PUBREL, pid, 0 if find(fl, pid, _WAIT_PUBCOMP) >= 0 else 0x92)
            return False
        rc = pkt.reason_code
        if rc >= 0x80:  # flow ends, no PUBREL [MQTT-4.3.3-4]
            return complete(s, i, _PUBLISH_DONE, pkt, rc, "PUBREC")
        set_queued(fl, i, False)  # (a PUBREC for a resend not yet made)
        # the flag bits above wait kind and reason code stay (RESEND, RETAIN;
        # QUEUED was just cleared): outbound.py's in-flight table
        fl[_F_STATE][i] = _WAIT_PUBCOMP | rc << 8 | fl[_F_STATE][i] & ~0xFFFF
        # topic and payload stay until PUBCOMP: never resent on this session after
        # PUBREL [MQTT-4.3.3-6], but a server that loses the session meanwhile may not
        # have delivered it (Mosquitto delivers at PUBREL): then it goes out as new
        ack(s._tx, _PUBREL, pid, 0)
        ka = s._ka
        if ka[_KA_ACK_SINCE] is not None:  # (ack_timeout_ms on) an ack came: PUBCOMP next
            ka[_KA_ACK_SINCE] = ka[_KA_NOW]
        return False
    if ptype == _PUBCOMP:
        i = find(fl, pid, _WAIT_PUBCOMP)
        if i < 0:
            return False
        rc = pkt.reason_code
        return complete(s, i, _PUBLISH_DONE, pkt, rc if rc else (fl[_F_STATE][i] >> 8) & 0xFF,
                        "PUBCOMP")
    if ptype == _PUBREL:
        # answer PUBCOMP [MQTT-4.3.3-11]; the id is then free for a new message
        # [MQTT-4.3.3-12]
        held = release(s._rx, pid)
        ack(s._tx, _PUBCOMP, pid, 0 if held else 0x92)
        if held:  # unacknowledged for the server until the PUBCOMP is written
            ack_queued(s._rx, s._tx)
        return False


def on_publish(s, pid):
    """The server's QoS 2 PUBLISH `pid`: hold its id and queue PUBREC; False for a
    repeat of one held (acknowledged again, never delivered twice [MQTT-4.3.3-10]).
    The caller checked room for the ack."""
    held = s._rx
    if pid in held[_H_IDS]:
        ack(s._tx, _PUBREC, pid, 0)
        return False
    if over_quota(s):  # [MQTT-3.3.4-9]
        if s.strict_receive_maximum or held[_H_COUNT] >= s.receive_maximum + _SLACK:
            raise ProtocolError(0x93, "Receive Maximum %d exceeded" % s.receive_maximum)
        s.receive_maximum_exceeded += 1  # tolerated, within a bound: the table grows
    ids = held[_H_IDS]  # fewer held than receive_maximum: a free entry, or room for one
    if held[_H_COUNT] < len(ids):
        ids[ids.index(0)] = pid
    elif ids:
        ids.append(pid)
    else:  # the first: the list is made now (session.py)
        held[_H_IDS] = [pid]
    held[_H_COUNT] += 1
    ack(s._tx, _PUBREC, pid, 0)  # ownership taken [MQTT-4.3.3-8]
    return True


def release(held, pid):
    """The id `pid` is no longer held (PUBREL, or a message its handler could not
    take); False when it was not (``held``: the session's receive list)."""
    ids = held[_H_IDS]
    if pid not in ids:
        return False
    ids[ids.index(pid)] = 0
    held[_H_COUNT] -= 1
    return True
