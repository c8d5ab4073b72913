"""What the session sends: CONNECT [MQTT-3.1.2], PUBLISH (with automatic topic
aliases: mqtt5.aliases), SUBSCRIBE/UNSUBSCRIBE, DISCONNECT/AUTH within the server's
Maximum Packet Size, and the in-flight table that keeps what awaits its ack.  A request
made while in-flight slots wait to be (re)sent joins that backlog (mqtt5.backlog,
loaded only then); ``pump(s)`` runs it at CONNACK, after sent() and before each
next_event() [MQTT-4.4.0-1] [MQTT-4.6.0-1].

The in-flight table holds at most ``max_inflight`` unacknowledged outbound packets
(PUBLISH QoS>0, SUBSCRIBE, UNSUBSCRIBE) and hands out packet ids.  No per-message
objects: its slots are parallel lists (made by the first slot: empty tuples before),
a slot made when every slot made so far is busy and never given back (a node with one
message in flight at a time keeps one slot), in a list the session keeps (slots
``_F_*``; the modules that read it keep copies):
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
- ``last``: the last packet id handed out; ``stamp``: the last order stamp; ``size``;
- ``hold``: new packets wait, CONNECTING with enhanced auth until CONNACK
  [MQTT-3.1.2-30]; ``kept``: the server keeps this session's state after the link
  closes (a Session Expiry granted above 0), so a CONNACK may say Session Present;
  -1 while a clean start that asked for a Session Expiry waits for its CONNACK (which
  must say Present 0; unanswered, the server may hold the session all the same);
  ``aged``: the ms of an outage not yet taken off Message Expiry (mqtt5.backlog age()).
(Slots, not Session attributes: the Session's instance dict stays a few names under
full, so that a method lookup, which misses it, stops soon.)
"""

from .errors import MQTTError
import mqtt5.txbuf as _tb  # (through the module: each name imported is a slot of this
# module's dict, and the table keeps one slot spare for the builtins' misses)

_USER_PROPERTY = const(0x26)

_CLOSED = const(0)
_ESTABLISHED = const(2)

_RESERVE = const(32)  # tx bytes publish/subscribe leave free for acks and PINGREQ
_SESSION_EXPIRY_INTERVAL = const(0x11)
_REQUEST_PROBLEM_INFORMATION = const(0x17)
_REQUEST_RESPONSE_INFORMATION = const(0x19)
_RECEIVE_MAXIMUM = const(0x21)
_TOPIC_ALIAS_MAXIMUM = const(0x22)
_TOPIC_ALIAS = const(0x23)
_MAXIMUM_PACKET_SIZE = const(0x27)
_CONNECTING = const(1)
_H_POS = const(9)  # slots of the receive list's held ids and acks (inbound.py)
_H_N = const(11)
_H_PENDING = const(12)
_TX_BUF = const(0)  # slots of the transmit buffer's list (txbuf.py)
_TX_MV = const(1)
_TX_HEAD = const(2)
_TX_TAIL = const(3)
_TX_CAP = const(4)
_TX_SPOS = const(5)
_TX_LENT = const(6)
_TX_BLOCKED = const(7)
_TX_TOPICS = const(8)
_RX_START = const(2)  # slots of the receive buffer's list (rxbuf.py)
_RX_END = const(3)
_RX_ALIASES = const(5)
_KA_PERIOD = const(0)  # slots of the keep-alive state (keepalive.py)
_KA_TX = const(1)
_KA_RX = const(2)
_KA_PING_OUT = const(3)
_KA_ACK_SINCE = const(5)
_KA_NOW = const(6)
_F_PID = const(0)  # slots of the in-flight table (module doc)
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
_F_HOLD = const(11)
_F_KEPT = const(12)

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


def password(pw, what):
    """The CONNECT password as given at construction (bytes-like, a str sent as UTF-8,
    a callable returning one of those at every connect: a token the application
    renews, or None), or at connect from that callable; TypeError otherwise, with
    ``what`` (messages never quote the value)."""
    if pw is None or callable(pw) or isinstance(pw, (bytes, bytearray, memoryview)):
        return pw
    if isinstance(pw, str):
        return pw.encode()  # UTF-8, what users expect of a str
    raise TypeError(what)


def connect(s, now_ms, clean_start=None):
    """``Session.connect(now_ms, clean_start=None)``: start a new transport
    connection: reset buffers, queue CONNECT [MQTT-3.1.2]; state CONNECTING.
    clean_start overrides the constructor's value for this connection (a supervisor
    resuming a session passes False)."""
    import mqtt5.inbound as _in  # (loaded by the session before: no name kept here)

    _in.limits(s, {})  # (what a new connection starts with: the server's limits)
    if clean_start is None:
        clean_start = s.clean_start
    rx = s._rx  # the receive buffer's list (rxbuf.py): start and end
    rx[_RX_START] = rx[_RX_END] = 0
    tx = s._tx  # the transmit buffer (txbuf.py): nothing queued, nothing lent
    tx[_TX_HEAD] = tx[_TX_TAIL] = tx[_TX_SPOS] = 0
    tx[_TX_LENT] = tx[_TX_BLOCKED] = False
    pos = rx[_H_POS]  # acks not written are gone with the old connection (inbound.py)
    for i in range(len(pos)):
        pos[i] = -1
    rx[_H_N] = 0
    if s._aout:
        s._aout.reset(0)  # outbound aliases only after CONNACK [MQTT-3.3.2-7]
    fl = s._inflight  # every slot in flight goes out again (PUBLISH with DUP, PUBREL)
    st = fl[_F_STATE]  # once CONNACK says the session is present [MQTT-4.4.0-1]
    p = fl[_F_PID]
    for i in range(len(p)):
        if p[i] and not st[i] & _QUEUED:
            st[i] |= _RESEND
            set_queued(fl, i, True)
    ka = s._ka  # both directions count as active (keepalive.py)
    if fl[_F_QUEUED]:  # what waits to go again waited offline since the session last
        import mqtt5.backlog as _bl  # saw the old link: its Message Expiry ages
        _bl.age(fl, now_ms, ka[_KA_NOW])
    al = rx[_RX_ALIASES]  # inbound topic aliases live for one connection [MQTT-3.3.2-7]
    for i in range(len(al)):
        al[i] = None
    rx[_H_PENDING] = None
    ka[_KA_PERIOD] = s.keepalive * 1000
    ka[_KA_TX] = ka[_KA_RX] = now_ms
    ka[_KA_PING_OUT] = False
    ka[_KA_ACK_SINCE] = None  # no acknowledgement awaited on this connection yet
    ka[_KA_NOW] = now_ms
    if clean_start:  # its CONNACK must say Session Present 0 [MQTT-3.2.2-2]; -1: a
        # session asked for, which the server may hold if that CONNACK never comes
        fl[_F_KEPT] = -1 if s.session_expiry else False
    elif fl[_F_KEPT] == -1:  # (such a CONNECT went unanswered, and may have arrived:
        fl[_F_KEPT] = True   # Session Present 1 may come, and what it resumes is ours)
    # [MQTT-3.1.2.11.4]; announced less the Remaining Length's extra bytes, which
    # Mosquitto 2.0 leaves out when it sizes a packet: it sends a packet over our
    # limit by them, which we must refuse (0x95), and again at every reconnect
    m = s.max_packet_size
    props = {_MAXIMUM_PACKET_SIZE: m - (m > 129) - (m > 16386) - (m > 2097155)}
    if s.session_expiry:
        props[_SESSION_EXPIRY_INTERVAL] = s.session_expiry
    if s.receive_maximum != 65535:
        props[_RECEIVE_MAXIMUM] = s.receive_maximum
    if s.topic_alias_maximum:
        props[_TOPIC_ALIAS_MAXIMUM] = s.topic_alias_maximum
    if s.request_response_info:
        props[_REQUEST_RESPONSE_INFORMATION] = 1
    if not s.request_problem_info:
        props[_REQUEST_PROBLEM_INFORMATION] = 0
    if s.user_properties:
        props[_USER_PROPERTY] = list(s.user_properties)
    if s.auth_method is not None:
        import mqtt5.auth as _auth  # lazy: only sessions using enhanced auth
        _auth.connect_props(s, props)
    from .codec import encode_connect

    pw = s.password
    if callable(pw):  # called at every (re)connect [MQTT-3.1.3.5]
        pw = password(pw(), "the password callback must return bytes, str or None")
    while True:
        t = tx[_TX_TAIL]
        n = encode_connect(tx[_TX_MV][t:], s.client_id, clean_start, s.keepalive,
                           s.username, pw, s.will, props)
        if -n > tx[_TX_CAP]:  # an option's fault, which no reconnect can mend
            raise ValueError("CONNECT of %d bytes exceeds tx_size %d: its client id, Will, "
                             "user properties or password are too large" % (-n, tx[_TX_CAP]))
        if _tb.queued(tx, n, 0, 0):
            break
    fl[_F_HOLD] = s.auth_method is not None  # [MQTT-3.1.2-30]
    s.state = _CONNECTING


def publish(s, topic, payload, qos=0, retain=False, props=None, alias=True):
    """Queue PUBLISH; returns the packet id (0 for QoS 0); PUBLISH_DONE follows for
    QoS 1/2.

    topic: str, or UTF-8 bytes (spares the codec one encode allocation); payload:
    bytes-like.  For QoS 1/2 the session keeps references to topic/payload/props until
    PUBLISH_DONE (for resend): do not mutate them.  alias: use an outbound Topic
    Alias when the table allows (a repeated topic then goes out with an empty
    Topic Name); False sends the full topic without one.  props must not carry a
    Topic Alias while aliases are on (ValueError).  ValueError for invalid contents
    (codec: wildcard in topic, bad property ...).  MQTTError when not
    connected/connecting, no free slot, send quota used up (``send_quota`` 0:
    server Receive Maximum [MQTT-3.3.4-7]), QoS above the server's Maximum QoS
    [MQTT-3.2.2-11], retain not available [MQTT-3.2.2-14], or the packet is over
    the server's Maximum Packet Size (message names 0x95, ``.reason_code`` 0x95;
    nothing queued) [MQTT-3.2.2-15]; BufferFull when the transmit buffer has no room
    now, or (QoS 0) while a resend backlog exists or, with enhanced auth, before
    CONNACK.  While a
    resend backlog exists (after a reconnect) QoS 1/2 publishes are accepted but
    queued behind it, so nothing new overtakes a resend [MQTT-4.6.0-1]."""
    if s.state == _CLOSED:  # (check_open(), inline on the hot path)
        raise MQTTError("not connected")
    if qos > s.maximum_qos or qos < 0:
        if qos > 2 or qos < 0:  # no QoS at all, whatever the server allows [MQTT-3.3.1-4]
            raise ValueError("QoS must be 0, 1 or 2")
        raise MQTTError("QoS %d above server maximum %d" % (qos, s.maximum_qos))
    if retain and not s.retain_available:
        raise MQTTError("retain not available")
    if props and _TOPIC_ALIAS in props and not (alias and s._aout):  # the caller's own:
        a = props[_TOPIC_ALIAS]  # within the server's maximum (0 before CONNACK, or
        if not 0 < a <= s.server_topic_alias_maximum:  # when it sent none) [MQTT-3.3.2-9]
            raise MQTTError("Topic Alias %r: the server's Topic Alias Maximum is %d"
                            % (a, s.server_topic_alias_maximum))
    fl = s._inflight
    i = pid = 0
    if not qos:
        if fl[_F_QUEUED] or fl[_F_HOLD]:  # QoS 0 holds no slot: wait for the backlog / CONNACK
            raise _tb.BufferFull("resend backlog: flush, then retry")
    else:
        if fl[_F_PUBLISHES] >= s.receive_maximum_out:
            raise MQTTError("send quota used up: server Receive Maximum %d [MQTT-3.3.4-7]"
                            % s.receive_maximum_out)
        i = alloc(fl, (_WAIT_PUBACK if qos == 1 else _WAIT_PUBREC) | (_RETAIN if retain else 0))
        pid = fl[_F_PID][i]
    try:
        if qos and (fl[_F_QUEUED] or fl[_F_HOLD]):  # behind the backlog: encoded by pump(),
            import mqtt5.backlog as _b  # in order
            from .codec import encode_publish

            # (its size: ValueError now for invalid contents)
            _b.join(s, i, -encode_publish(b"", topic, payload, qos, False, False, 1, props))
        elif alias and s._aout:
            import mqtt5.aliases as _al

            _al.send(s, topic, payload, qos, retain, pid, props)
        else:
            # The usual PUBLISH in place: its str topic's checked UTF-8 cached (at its
            # first publish: txbuf.topic_utf8()), no properties, a one-byte Remaining
            # Length (3.3.1), room. Any other: txbuf.publish(), the same layout.
            tx = s._tx
            try:
                u = None if props or tx[_TX_HEAD] else tx[_TX_TOPICS].get(topic)
            except TypeError:  # an unhashable topic (bytearray): the codec checks it
                u = None
            n = len(u) if u else 128
            np = len(payload)  # (3: the topic's length and the Property Length)
            rl = 3 + n + np + (2 if qos else 0)
            t = tx[_TX_TAIL]
            b = tx[_TX_BUF]
            lim = s.server_max_packet_size
            if rl < 128 and t + rl + 2 + _RESERVE <= len(b) and (not lim or rl + 2 <= lim):
                b[t] = 0x30 | qos << 1 | (1 if retain else 0)  # PUBLISH, its flags
                b[t + 1] = rl
                b[t + 2] = 0  # Topic Name [MQTT-3.3.2-1]: n < 128
                b[t + 3] = n
                t += 4 + n
                b[t - n:t] = u
                if qos:
                    b[t] = pid >> 8
                    b[t + 1] = pid & 0xFF
                    t += 2
                b[t] = 0  # Property Length
                t += 1
                b[t:t + np] = payload
                tx[_TX_TAIL] = t + np
            else:
                _tb.publish(tx, _RESERVE, lim, topic, payload, qos, retain, False, pid, props)
    except Exception:
        if qos:
            free(fl, i, True)
        raise
    if not qos:
        return 0
    fl[_F_TOPIC][i], fl[_F_PAYLOAD][i], fl[_F_PROPS][i] = topic, payload, props
    if fl[_F_QUEUED] and s.state == _ESTABLISHED:
        pump(s)
    return pid


def request(s, state, t, items, props):
    """Session.subscribe/unsubscribe: queue a SUBSCRIBE (``t`` 8) or UNSUBSCRIBE (10)
    of ``items`` waiting in ``state`` (mqtt5.subcodec encodes it)."""
    if s.state == _CLOSED:
        raise MQTTError("not connected")
    fl = s._inflight
    i = alloc(fl, state)
    pid = fl[_F_PID][i]
    try:
        if fl[_F_QUEUED] or fl[_F_HOLD]:
            import mqtt5.backlog as _b
            import mqtt5.subcodec as _s
            from .wire import vbi_size

            rl = _s.size(t, items, props)  # validates: ValueError now, not at pump()
            _b.join(s, i, 1 + vbi_size(rl) + rl)
        else:
            _tb.request(s._tx, t, pid, items, props, _RESERVE, s.server_max_packet_size)
    except Exception:
        free(fl, i, True)
        raise
    fl[_F_TOPIC][i], fl[_F_PROPS][i] = items, props
    if fl[_F_QUEUED] and s.state == _ESTABLISHED:
        pump(s)
    return pid


def post(s, event):
    """Queue a rare event (a connection's end, a request given up) for next_event()
    before the next packet: (kind, packet_id, reason_code, error, by_server, packet)."""
    rx = s._rx
    if rx[_H_PENDING] is None:
        rx[_H_PENDING] = []
    rx[_H_PENDING].append(event)


def pump(s):
    """Encode the QUEUED slots (mqtt5.backlog, loaded only when there are some)."""
    if s._inflight[_F_QUEUED] and s.state == _ESTABLISHED:
        import mqtt5.backlog as _b

        _b.pump(s)


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
        if not i:  # the first slot: the lists are made now, the ids' last
            for k in range(_F_PROPS, _F_PID - 1, -1):
                fl[k] = []
            p = fl[_F_PID]
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
