"""How the session reacts to each packet from the server (acks owed, slots completed,
events filled), and the one reused ``Event`` it fills (its kinds: mqtt5.events).
``handle(s, b0, mv)`` is called by Session.next_event() with room for one ack
already checked; it raises ProtocolError for violations."""

from .errors import ProtocolError
from .txbuf import ack
import mqtt5.codec as _c
import mqtt5.outbound as _out
from .outbound import free, awaiting

# (reason_codes' rc_error, mqtt5.packets and the rare modules are imported where used:
# `import a.b as m` in a function allocates nothing, and the module's dict keeps fewer
# names)

_SERVER_REFERENCE = const(0x1C)
_SESSION_EXPIRY_INTERVAL = const(0x11)
_ASSIGNED_CLIENT_IDENTIFIER = const(0x12)
_SERVER_KEEP_ALIVE = const(0x13)
_AUTHENTICATION_METHOD = const(0x15)
_RESPONSE_INFORMATION = const(0x1A)
_REASON_STRING = const(0x1F)
_RECEIVE_MAXIMUM = const(0x21)
_TOPIC_ALIAS_MAXIMUM = const(0x22)
_MAXIMUM_QOS = const(0x24)
_RETAIN_AVAILABLE = const(0x25)
_MAXIMUM_PACKET_SIZE = const(0x27)
_WILDCARD_SUBSCRIPTION_AVAILABLE = const(0x28)
_SUBSCRIPTION_IDENTIFIER_AVAILABLE = const(0x29)
_SHARED_SUBSCRIPTION_AVAILABLE = const(0x2A)
_CONNECTED = const(1)
_ESTABLISHED = const(2)
_KA_PERIOD = const(0)  # slots of the keep-alive state (keepalive.py)
_TOPIC_ALIAS = const(0x23)

_MESSAGE = const(2)
_PUBLISH_DONE = const(3)
_SUBSCRIBED = const(4)
_UNSUBSCRIBED = const(5)
_DISCONNECTED = const(6)
_ERROR = const(8)
_CLOSED = const(0)
_CONNECTING = const(1)
_WAIT_PUBACK = const(1)
_WAIT_SUBACK = const(4)
_WAIT_UNSUBACK = const(5)

# control packet types [MQTT-2.1.2]
_CONNACK = const(2)
_PUBLISH = const(3)
_PUBACK = const(4)
_PUBREC = const(5)
_PUBREL = const(6)
_PUBCOMP = const(7)
_SUBACK = const(9)
_UNSUBACK = const(11)
_KA_ACK_SINCE = const(5)  # keepalive.py's slots
_KA_NOW = const(6)
_F_PID = const(0)  # slots of the in-flight table (outbound.py)
_F_TOPIC = const(3)
_F_HOLD = const(11)
_F_KEPT = const(12)
_TX_HEAD = const(2)  # slots of the transmit buffer's list (txbuf.py)
_TX_TAIL = const(3)
_TX_SPOS = const(5)
# The server's view of its unacknowledged QoS 1/2 PUBLISH to us, bounded by our Receive
# Maximum [MQTT-3.3.4-9] (a violation is 0x93 Receive Maximum exceeded): slots of the
# session's receive list (``Session._rx``, after rxbuf.py's and the inbound aliases'),
# [..., size, ids, count, pos, i, n] (slots of a list the session keeps anyway: no
# instance attribute, no class).  ids: inbound QoS 2 packet ids between PUBREC and
# PUBREL [MQTT-4.3.3-10] (grown by mqtt5.qos2), count of them held; pos: where our acks
# (PUBACK, PUBCOMP) end in the transmit stream, until they are written, n of them (-1:
# written).  Positions are byte counts masked to 30 bits (small ints on every port).
# Both tables grow on demand up to size entries; the ack positions' are then reused (i:
# the next to replace), and the held ids' grows on past size, by at most 512, for a
# server tolerated over our Receive Maximum (not strict: mqtt5.qos2).  The list's last
# slot holds the session's rare events, to hand out before the next packet
# (outbound.post()): None, else a list of tuples made by the first.  outbound, session
# and the modules loaded on use keep copies of the slot numbers.
_H_SIZE = const(6)
_H_IDS = const(7)
_H_COUNT = const(8)
_H_POS = const(9)
_H_I = const(10)
_H_N = const(11)
_H_PENDING = const(12)
_POS_MASK = const(0x3FFFFFFF)  # transmit stream positions wrap (txbuf.py)
_POS_HALF = const(0x20000000)
_DISCONNECT = const(14)
_AUTH = const(15)


class Event:
    """The session's single, reusable event object.

    ``next_event()`` refills and returns the SAME instance each time: it is valid until
    the next ``next_event()`` call; copy what you need.  Fields not relevant to
    ``kind`` are None/0/False, but for topic, payload, qos, retain and dup: set by a
    MESSAGE only (absent before the first one, stale after it).

    - kind: one of CONNECTED, MESSAGE, PUBLISH_DONE, SUBSCRIBED, UNSUBSCRIBED,
      DISCONNECTED, LINK_DEAD, ERROR, REAUTHENTICATED (adapters ignore kinds they do
      not know)
    - packet: the decoded packet, else None.  CONNACK (CONNECTED, a refused-connect
      ERROR), PUBLISH (MESSAGE), SUBACK and UNSUBACK (SUBSCRIBED, UNSUBSCRIBED) and a
      server's DISCONNECT (DISCONNECTED) are decoded into the event itself, so
      ``packet`` is the event: ``ev.packet.topic`` is ``ev.topic``.  A PUBACK
      without properties is not decoded (None: its code is in reason_code); other
      acks and AUTH (REAUTHENTICATED) are packet objects of mqtt5.packets; for a lost
      request see below.
    - packet_id (MESSAGE: 0 for QoS 0), reason_code (PUBLISH_DONE for QoS 2: PUBCOMP's
      code if it failed, else PUBREC's, so 0x10 is seen), reason_codes (bytes, one per
      filter, SUBSCRIBED/UNSUBSCRIBED), props (None or dict)
    - session_present (CONNECTED), by_server (DISCONNECTED)
    - server_reference: the Server Reference property (spec 4.11) of a CONNACK or
      server DISCONNECT, else None.  With reason code 0x9C Use another server
      (temporary) or 0x9D Server moved (permanent) it names where to connect instead;
      also kept as ``Session.server_reference`` until the next connect().
    - error: None on success, else an MQTTError whose message names the reason code
      (e.g. "PUBACK 0x87 Not authorized"); reason codes < 0x80 are success (0x10 No
      matching subscribers included).  For SUBSCRIBED/UNSUBSCRIBED: the first failing
      per-filter code.  The error also has ``.reason_code``.
    - Session lost: after CONNACK with Session Present 0 (a clean start, or the
      server had no session), every request that went out on an earlier connection
      ends with its usual event (PUBLISH_DONE, SUBSCRIBED, UNSUBSCRIBED) right after
      CONNECTED, with reason_code 0x80 and error a ``mqtt5.session.SessionLost``
      (``isinstance`` tells it apart from a server's 0x80); packet is
      the request to send again as a NEW message if wanted (a Publish: topic,
      payload, qos, retain, props; a Subscribe/Unsubscribe: topics, props); a QoS 2
      Publish past PUBREC too (a server may deliver it only at PUBREL; sent again it
      may arrive twice, surely so once our PUBREL reached the server: the error's
      ``released`` is True once PUBREC had come, our PUBREL then due).
    - Other local failures (e.g. a queued request over the server's Maximum Packet
      Size when it was finally encoded; a resend the server's lowered limits no longer
      allow, 0x9B QoS not supported or 0x9A Retain not supported): the request's
      event with reason_code 0x95, 0x9B or 0x9A (or 0x80) and error; packet None.
    """

    def _clear(self, kind):  # (also what makes a new one: Event()._clear(0))
        self.kind = kind
        self.packet = None
        self.packet_id = 0
        self.reason_code = 0
        self.reason_codes = None
        self.props = None
        self.session_present = False
        self.by_server = False
        self.error = None
        self.server_reference = None


def handle(s, b0, mv):
    """Act on one packet from the server (``mv``: all of it, ``b0`` its first byte);
    True when s._ev was filled.  PUBLISH and CONNACK (mqtt5.codec), SUBACK and
    UNSUBACK (mqtt5.subcodec) and DISCONNECT are decoded into the event itself (its
    ``packet`` is then the event); the rest as packet objects of mqtt5.packets,
    loaded on use (an ack with properties, QoS 2's, AUTH)."""
    ptype = b0 >> 4
    ev = s._ev
    if ptype == _PUBLISH or ptype == _CONNACK or ptype == _SUBACK or ptype == _UNSUBACK \
            or ptype == _DISCONNECT:
        end = len(mv)  # after the fixed header: Remaining Length's bytes from the total
        p = 2 if end < 130 else 3 if end < 16387 else 4 if end < 2097156 else 5
        if ptype != _PUBLISH:  # (decode_publish() checks a PUBLISH's flags itself)
            _c.check_first(b0)
        if ptype == _CONNACK:
            ev._clear(_CONNECTED)
            _c.decode_connack(ev, mv, p, end)
            ev.packet = ev
            return on_connack(s, ev)
        if ptype == _PUBLISH:
            ev._clear(_MESSAGE)
            _c.decode_publish(ev, mv, b0 & 15, p, end)
        elif ptype == _DISCONNECT:
            ev._clear(_DISCONNECTED)
            _c.decode_disconnect(ev, mv, p, end, _DISCONNECT)
        else:
            import mqtt5.subcodec as _s  # (loaded by our subscribe already)

            ev._clear(_SUBSCRIBED if ptype == _SUBACK else _UNSUBSCRIBED)
            _s.decode_ack(ev, mv, ptype, p, end)
        ev.packet = pkt = ev
    else:
        import mqtt5.packets as _p

        pkt = _p.decode(mv)
    if s.state == _CONNECTING and ptype != _CONNACK and ptype != _DISCONNECT and \
            ptype != _AUTH:  # AUTH: enhanced authentication before CONNACK (4.12)
        raise ProtocolError(0x82, "packet before CONNACK")  # [MQTT-3.2.0-1]
    if ptype == _PUBLISH:
        qos = pkt.qos
        props = pkt.props
        if props and _TOPIC_ALIAS in props:
            import mqtt5.aliases as _al  # lazy: only servers that send aliases load it

            _al.inbound(s, pkt, props[_TOPIC_ALIAS])
        pid = pkt.packet_id
        if qos == 2:
            import mqtt5.qos2 as _q2  # lazy: only QoS 2 flows

            if not _q2.on_publish(s, pid):
                return False  # a repeat, acknowledged again, not delivered twice
        elif qos:
            # the server may not have more QoS 1/2 PUBLISH unacknowledged than our
            # Receive Maximum [MQTT-3.3.4-9]: held QoS 2 ids + acks not yet written
            if over_quota(s):
                if s.strict_receive_maximum:
                    raise ProtocolError(0x93, "Receive Maximum %d exceeded"
                                        % s.receive_maximum)
                s.receive_maximum_exceeded += 1  # QoS 1 costs only its ack: tolerated
            ack(s._tx, _PUBACK, pid, 0)  # [MQTT-4.3.2-4]
            ack_queued(s._rx, s._tx)
        return True
    fl = s._inflight
    pid = getattr(pkt, "packet_id", 0)
    if ptype == _PUBACK:  # with properties (a plain one is acted on undecoded)
        i = _out.find(fl, pid, _WAIT_PUBACK)
        return complete(s, i, _PUBLISH_DONE, pkt, pkt.reason_code, "PUBACK") if i >= 0 else None
    if ptype == _PUBREC or ptype == _PUBCOMP or ptype == _PUBREL:
        import mqtt5.qos2 as _q2  # lazy: only QoS 2 flows get these
        return _q2.on_ack(s, ptype, pkt)
    if ptype == _SUBACK or ptype == _UNSUBACK:
        sub = ptype == _SUBACK
        i = _out.find(fl, pid, _WAIT_SUBACK if sub else _WAIT_UNSUBACK)
        if i < 0:
            return False
        if len(pkt.reason_codes) != len(fl[_F_TOPIC][i]):  # one per filter [MQTT-3.9.3-1]
            raise ProtocolError(0x82, "reason code count")
        rc = 0
        for c in pkt.reason_codes:
            if c >= 0x80:
                rc = c
                break
        return complete(s, i, _SUBSCRIBED if sub else _UNSUBSCRIBED, pkt, rc,
                        "SUBACK" if sub else "UNSUBACK")
    if ptype == _DISCONNECT:  # (decoded into the event above)
        s.state = _CLOSED
        props = ev.props
        # 0x9C Use another server / 0x9D Server moved: where to go (spec 4.11)
        s.server_reference = ev.server_reference = \
            props.get(_SERVER_REFERENCE) if props else None
        ev.by_server = True
        if ev.reason_code >= 0x80:
            import mqtt5.reason_codes as _rc

            ev.error = _rc.rc_error("DISCONNECT", ev.reason_code)
        return True
    if ptype == _AUTH:
        if s.auth_method is None:  # we sent no method [MQTT-4.12.0-6]
            raise ProtocolError(0x82, "AUTH without an Authentication Method")
        import mqtt5.auth as _auth  # lazy: enhanced auth only
        return _auth.on_auth(s, pkt)
    # CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ from a server
    raise ProtocolError(0x82, "unexpected packet type %d" % ptype)


def complete(s, i, kind, pkt, rc, what):
    """Complete slot i: free its packet id, fill the event and return it (pkt None:
    a PUBACK without properties, not decoded; pkt the event: a SUBACK or UNSUBACK
    decoded into it)."""
    # (locals and stack within 11 words: a bigger frame is allocated on the heap at
    # every call, and this runs for every ack)
    ev = s._ev
    if pkt is not ev and (pkt is not None or ev.kind != kind or ev.packet is not None
                          or ev.error is not None or ev.props is not None):
        # (pkt: an ack object of mqtt5.packets, a PUBACK with properties or QoS 2's;
        # a plain PUBLISH_DONE again, the usual, changes only its id and code)
        ev._clear(kind)
        ev.packet = pkt
        if pkt is not None:
            ev.props = pkt.props
    ev.packet_id = s._inflight[_F_PID][i]
    ev.reason_code = rc
    if rc >= 0x80:  # (the module's attribute, not a local name)
        ev.error = __import__("mqtt5.reason_codes").reason_codes.rc_error(what, rc)
    free(s._inflight, i, False)
    if s._ka[_KA_ACK_SINCE] is not None:  # (ack_timeout_ms on) the wait starts again, or
        s._ka[_KA_ACK_SINCE] = s._ka[_KA_NOW] if awaiting(s._inflight) else None  # ends
    return ev


def over_quota(s):
    """True when one more QoS 1/2 PUBLISH would exceed our Receive Maximum
    [MQTT-3.3.4-9]: held QoS 2 ids plus acks not yet written."""
    held = s._rx
    return held[_H_COUNT] + acks_pending(held, s._tx[_TX_SPOS]) >= s.receive_maximum


def ack_queued(held, tx):
    """An ack was queued, the last packet of transmit buffer ``tx``: held until the
    stream is written past its end (``held``: the session's receive list)."""
    end = (tx[_TX_SPOS] + tx[_TX_TAIL] - tx[_TX_HEAD]) & _POS_MASK  # stream position
    pos = held[_H_POS]
    if held[_H_N] < len(pos):
        pos[pos.index(-1)] = end
    elif not pos:  # the first: the list is made now (session.py)
        held[_H_POS] = [end]
    elif len(pos) < held[_H_SIZE]:
        pos.append(end)
    else:  # all taken (a tolerated Receive Maximum overrun): replace one, in turn
        i = held[_H_I]
        pos[i] = end
        held[_H_I] = (i + 1) % len(pos)
        return
    held[_H_N] += 1


def acks_pending(held, written):
    """Acks not yet written when the stream was written up to ``written``."""
    pos = held[_H_POS]
    for i in range(len(pos)):
        p = pos[i]
        if p >= 0 and not 0 < (p - written) & _POS_MASK < _POS_HALF:
            pos[i] = -1
            held[_H_N] -= 1
    return held[_H_N]


def limits(s, props):
    """Take the server's limits from a successful CONNACK's props dict onto session s;
    with an empty dict, the values that apply when CONNACK omits them (spec 3.2.2.3),
    set at every connect."""
    g = props.get
    s.session_present = s.reauthenticating = False  # (CONNACK's flag: set after)
    s.reason_string = g(_REASON_STRING)
    s.server_keepalive = g(_SERVER_KEEP_ALIVE)
    # Server Keep Alive replaces ours [MQTT-3.2.2-21]
    s.keepalive_s = s.keepalive if s.server_keepalive is None else s.server_keepalive
    s.assigned_client_id = g(_ASSIGNED_CLIENT_IDENTIFIER)
    s.receive_maximum_out = g(_RECEIVE_MAXIMUM, 65535)  # (spec 3.2.2.3.3)
    s.maximum_qos = g(_MAXIMUM_QOS, 2)  # (spec 3.2.2.3.4)
    s.retain_available = g(_RETAIN_AVAILABLE, 1) == 1  # (spec 3.2.2.3.5)
    s.server_max_packet_size = g(_MAXIMUM_PACKET_SIZE, 0)  # 0: no limit beyond the
    # protocol's (spec 3.2.2.3.6)
    s.server_topic_alias_maximum = g(_TOPIC_ALIAS_MAXIMUM, 0)  # (spec 3.2.2.3.8)
    s.wildcard_available = g(_WILDCARD_SUBSCRIPTION_AVAILABLE, 1) == 1  # (3.2.2.3.11)
    s.sub_id_available = g(_SUBSCRIPTION_IDENTIFIER_AVAILABLE, 1) == 1  # (3.2.2.3.12)
    s.shared_available = g(_SHARED_SUBSCRIPTION_AVAILABLE, 1) == 1  # (3.2.2.3.13)
    s.response_information = g(_RESPONSE_INFORMATION)  # (3.2.2.3.15), if asked for
    s.server_reference = g(_SERVER_REFERENCE)  # (spec 3.2.2.3.16)
    s.session_expiry_granted = g(_SESSION_EXPIRY_INTERVAL, s.session_expiry)  # 3.2.2.3.2


def on_connack(s, ev):
    """Act on the CONNACK decoded into the CONNECTED event ``ev`` of session s: the
    event completed (CONNECTED, or ERROR when refused)."""
    if s.state != _CONNECTING:
        raise ProtocolError(0x82, "second CONNACK")  # [MQTT-3.2.0-2]
    rc = ev.reason_code
    props = ev.props or {}  # (no props: rare, once a connect)
    if rc >= 0x80:  # refused; the server closes the connection [MQTT-3.2.2-7]
        s.reason_string = props.get(_REASON_STRING)
        s.state = _CLOSED
        # 0x9C Use another server / 0x9D Server moved name it here (spec 4.11)
        s.server_reference = props.get(_SERVER_REFERENCE)
        ev.kind = _ERROR
        import mqtt5.reason_codes as _rc

        ev.error = _rc.rc_error("CONNACK", rc)
        ev.server_reference = s.server_reference
        return True
    if ev.session_present and s._inflight[_F_KEPT] is not True:
        # we hold no session state for the server to resume [MQTT-3.2.2-4], or this
        # was a clean start [MQTT-3.2.2-2]
        raise ProtocolError(0x82, "unexpected Session Present")
    limits(s, props)
    s.session_present = ev.session_present
    if s.auth_method is not None:
        import mqtt5.auth as _auth
        _auth.on_connack(s, props)  # same method [MQTT-4.12.0-5], finish()
    elif _AUTHENTICATION_METHOD in props:  # we sent none [MQTT-4.12.0-6]
        raise ProtocolError(0x82, "Authentication Method without our asking")
    if s.server_keepalive is not None:
        s._ka[_KA_PERIOD] = s.server_keepalive * 1000
    if s.assigned_client_id:
        s.client_id = s.assigned_client_id  # reuse it to resume the session
    if not s.session_present:
        # no session on the server: inbound QoS 2 ids are void, what went out
        # before is reported lost (events after CONNECTED) [MQTT-3.2.2-5]
        held = s._rx  # no QoS 2 id is held any more
        ids = held[_H_IDS]
        for i in range(len(ids)):
            ids[i] = 0
        held[_H_COUNT] = 0
        if any(s._inflight[_F_PID]):  # a slot in use
            import mqtt5.session_lost as _sl  # lazy: only when there is something to lose

            _sl.session_lost(s)
    fl = s._inflight
    fl[_F_KEPT] = s.session_expiry_granted != 0  # state kept after the link closes
    s.state = _ESTABLISHED
    fl[_F_HOLD] = False
    if s._aout:
        s._aout.reset(s.server_topic_alias_maximum)  # fresh map per connection
    _out.pump(s)  # resend before any new packet [MQTT-4.4.0-1] [MQTT-4.6.0-1]
    ev.server_reference = s.server_reference
    return True
