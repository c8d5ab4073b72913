"""Received application messages as handed to handlers.

Zero copy by default: a synchronous handler gets the client's one reusable
`Message`, whose `payload` is a memoryview into the receive buffer, valid only
during the handler call (`correlation_data`, like every binary property, is bytes).
To keep anything past the call, take `bytes(msg.payload)` or `msg.copy()`. A handler
is called once; when it returns an awaitable (async def), that runs as a task after
the buffer has moved on, so its Message is given its own bytes and the link makes a
new reusable one.
"""

from ._compat import ticks_diff, ticks_ms
from sys import print_exception  # (CPython's: set by mqtt5._compat, imported first)

# v5 property identifiers [MQTT-2.2.2.2]
_PAYLOAD_FORMAT = const(0x01)
_EXPIRY = const(0x02)
_CONTENT_TYPE = const(0x03)
_RESPONSE_TOPIC = const(0x08)
_CORRELATION = const(0x09)
_SUB_ID = const(0x0B)
_USER_PROPERTY = const(0x26)
# Message attributes read from its props (see Message.__getattr__): name, identifier
# (a constant tuple: in flash when frozen, and searched without allocating)
_PROPS = ("content_type", _CONTENT_TYPE, "payload_format_indicator", _PAYLOAD_FORMAT,
          "message_expiry_interval", _EXPIRY, "response_topic", _RESPONSE_TOPIC,
          "correlation_data", _CORRELATION, "user_properties", _USER_PROPERTY,
          "subscription_identifiers", _SUB_ID)


class Message:
    """One received PUBLISH.

    Attributes: topic (str), payload (memoryview or bytes), qos, retain, dup,
    props (the raw {property_id: value} dict, or None). The v5 properties are
    read-only attributes: user_properties (list of (key, value) in order),
    content_type, payload_format_indicator, message_expiry_interval,
    response_topic, correlation_data, subscription_identifiers (list of int).
    Absent properties read as None (user_properties and
    subscription_identifiers as an empty list).
    """

    __slots__ = ("topic", "payload", "qos", "retain", "dup", "props")

    def __init__(self, topic=None, payload=b"", qos=0, retain=False, dup=False, props=None):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.props = props

    def _load(self, p):
        # p: the session's Publish packet (valid until the next read)
        self.topic = p.topic
        self.payload = p.payload
        self.qos = p.qos
        self.retain = p.retain
        self.dup = p.dup
        self.props = p.props
        return self

    def __getattr__(self, name):
        # The v5 properties, read from props by name (one lookup instead of a
        # property object per name: each costs RAM even frozen).
        for i in range(0, len(_PROPS), 2):
            if _PROPS[i] == name:
                d = self.props
                v = d.get(_PROPS[i + 1]) if d else None
                if name == "user_properties":
                    return v or []
                if name == "subscription_identifiers":
                    return [] if v is None else [v] if isinstance(v, int) else v
                return v
        raise AttributeError(name)

    def _deliver(self, link, pkt):
        # The client's reusable Message: hand the session's Publish `pkt` to the
        # handlers of the subscriptions it matches (mqtt5.router), else on_message.
        self._load(pkt)
        topic = self.topic
        r = link._router
        d = self.props
        sids = d.get(_SUB_ID) if d else None  # Subscription Identifier(s): no re-matching
        i = r.next_match(topic, 0, sids) if r is not None else -1
        kept = False
        try:
            if i < 0:
                if link.on_message is not None:
                    kept = _call(link.on_message, self)
            while i >= 0:
                kept = _call(r.handler(i), self) or kept
                i = r.next_match(topic, i + 1, sids)
        except MemoryError:
            if pkt.qos == 2:  # not handled: its id no longer held as received, so the
                import mqtt5.qos2 as q2  # server's resend is delivered [MQTT-4.3.3-10]

                q2.release(link._s._rx, pkt.packet_id)
            raise
        finally:  # (also when a MemoryError ends the link: see _call)
            if kept:  # a task holds this Message: it keeps its own bytes, the link a new one
                link._msg = None
                try:
                    c = self.copy()
                except MemoryError:  # the task's handler meets no payload, not the next one
                    self.payload = self.props = None
                    raise
                self.payload, self.props = c.payload, c.props
            else:
                self.payload = self.props = None

    def text(self):
        """The payload decoded as UTF-8."""
        return bytes(self.payload).decode()

    def copy(self):
        """An independent Message: payload and binary properties as bytes."""
        d = self.props
        if d:
            d = dict(d)
            v = d.get(_CORRELATION)
            if v is not None:
                d[_CORRELATION] = bytes(v)
            v = d.get(_USER_PROPERTY)
            if v is not None:
                d[_USER_PROPERTY] = list(v)
            v = d.get(_SUB_ID)
            if v is not None and not isinstance(v, int):
                d[_SUB_ID] = list(v)
        return Message(self.topic, bytes(self.payload), self.qos, self.retain, self.dup, d)

    def __repr__(self):
        return "<Message %s qos=%d retain=%d %d bytes>" % (
            self.topic,
            self.qos,
            self.retain,
            len(self.payload),
        )


def _call(h, m):
    # A handler may not break the reader: its errors are printed.  It is called
    # once.  When it returns an awaitable (an async def, or a function returning
    # one), that runs as a task, and True tells _deliver() to give the Message its
    # own bytes before the receive buffer moves on.  A MemoryError of a QoS 1 or 2
    # message's handler call (whosever: an async def's call on MicroPython only makes
    # its generator) or task leaves it unacknowledged: it ends the link before the
    # PUBACK or PUBREC goes out, and the server sends the message again, DUP set
    # [MQTT-3.3.1-1] (a want of heap often passes).  Met again then, with no handler
    # task running (whose end would give heap back: a flood's resends come while its
    # tasks still run), it is reported like any handler error and the message
    # acknowledged: one the handler can never take (a payload too big for it) costs
    # one reconnect, not one at every reconnect.
    try:
        r = h(m)
        if r is not None and hasattr(r, "send"):
            import asyncio

            asyncio.create_task(_guard(r))
            return True
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # also a CancelledError of the handler's own making
        if m.qos and (not m.dup or _tasks[0]) and isinstance(e, MemoryError):
            raise
        _report(e)
    return False


_tasks = [0]  # handler tasks running (_guard)


async def _guard(coro):
    _tasks[0] += 1
    try:
        await coro
    except Exception as e:
        _report(e)
    finally:
        _tasks[0] -= 1


_shown = [None, 0]  # ticks_ms of the last traceback shown, handler errors not shown since


def _report(e):
    # A handler failing on every message prints one traceback a second at most (a
    # board's UART at 115200 baud takes ~15 ms for each), and counts the rest
    t = ticks_ms()
    if _shown[0] is not None and 0 <= ticks_diff(t, _shown[0]) < 1000:
        _shown[1] += 1
        return
    n = _shown[1]
    try:
        print("mqtt5: handler error" + (" (%d more since the last shown)" % n if n else ""))
        print_exception(e)
    except MemoryError:  # no heap to show it (a full heap): counted, the caller goes on
        _shown[1] = n + 1
        return
    _shown[0] = t
    _shown[1] = 0
