"""Topic Aliases (spec 3.3.2.3.4).  Inbound: ``inbound()`` maps a server's alias to
its topic (a table in the session's receive list, ``Session._rx[5]``).  Outbound: a
fixed table of topics the server knows by number on this connection, least recently
used replaced, used by ``send()``.

A topic goes out once with its name and a Topic Alias (setting the mapping), then with
an empty Topic Name and only the alias.  Aliases never exceed the server's Topic Alias
Maximum [MQTT-3.3.2-9], are never 0 [MQTT-3.3.2-8], and the table is emptied on every
new connection: mappings do not carry over [MQTT-3.3.2-7].

Memory: two lists of ``size`` entries allocated once (topic references and last-use
stamps); a lookup compares the caller's topic object with the stored ones (str with
str, bytes with bytes: a str and a bytes topic get separate aliases), allocating
nothing.
"""

from .errors import ProtocolError
from .txbuf import publish as _put

_TOPIC_ALIAS = const(0x23)
_RESERVE = const(32)  # as in mqtt5.outbound
_RX_ALIASES = const(5)  # the inbound table's slot in the session's receive list (rxbuf.py)


def inbound(s, pkt, alias):
    """Inbound Topic Alias (spec 3.3.2.3.4): a topic sets the alias, an empty topic uses
    it.  The table (s._rx[5], topic_alias_maximum entries) is per connection
    [MQTT-3.3.2-7]."""
    al = s._rx[_RX_ALIASES]
    if alias > len(al):  # above our maximum [MQTT-3.1.2-26] [MQTT-3.3.2-11]
        raise ProtocolError(0x94, "Topic Alias %d above our maximum" % alias)
    if pkt.topic:
        al[alias - 1] = pkt.topic
    else:
        pkt.topic = al[alias - 1]
        if pkt.topic is None:  # an alias the server never mapped on this connection
            raise ProtocolError(0x94, "Topic Alias %d not mapped" % alias)


class OutAliases:
    """Fixed-size LRU table of outbound topic aliases (alias = index + 1)."""

    def __init__(self, size):
        self.props = {0x23: 1} if size else None  # reused {Topic Alias: n} props
        self.topic = [None] * size
        self.stamp = [0] * size
        self.limit = 0  # usable entries on this connection: min(size, server maximum)
        self._clock = 0

    def reset(self, server_maximum):
        """New connection: forget every mapping; use at most server_maximum."""
        t = self.topic
        for i in range(len(t)):
            t[i] = None
            self.stamp[i] = 0
        self.limit = min(len(t), server_maximum)

    def lookup(self, topic):
        """The alias for topic: > 0 when the server already maps it (send an empty
        Topic Name), < 0 (minus the alias) when it must be (re)mapped now (send the
        name too), 0 when aliases are off.  Nothing changes until use() is called,
        so a packet that is then refused leaves the table as it was."""
        n = self.limit
        if not n:
            return 0
        t = self.topic
        st = self.stamp
        best = 0
        for i in range(n):
            v = t[i]
            if v is None:  # free entry: take it (after checking the rest for a hit)
                if t[best] is not None:
                    best = i
                continue
            if type(v) is type(topic) and v == topic:  # no bytes/str compare warning
                return i + 1
            if t[best] is not None and st[i] < st[best]:
                best = i
        return -(best + 1)

    def use(self, alias, topic):
        """The PUBLISH carrying ``alias`` was queued: record the mapping and its use."""
        i = alias - 1 if alias > 0 else -alias - 1
        self.topic[i] = topic
        self._clock += 1
        self.stamp[i] = self._clock


def send(s, topic, payload, qos, retain, pid, props):
    """Queue one new PUBLISH for session s with outbound aliases on (mqtt5.outbound):
    with a Topic Alias when the table allows."""
    al = s._aout
    a = al.lookup(topic) if al.limit else 0
    if not a:
        _put(s._tx, _RESERVE, s.server_max_packet_size, topic, payload, qos, retain,
             False, pid, props)
        return
    if props is None:
        p = al.props  # reused {Topic Alias: n}: no allocation
    elif _TOPIC_ALIAS in props:
        raise ValueError("Topic Alias is set by the session (publish(alias=False))")
    else:
        p = props  # the caller's dict carries the alias for this encode only
    p[_TOPIC_ALIAS] = a if a > 0 else -a
    try:
        _put(s._tx, _RESERVE, s.server_max_packet_size, b"" if a > 0 else topic,
             payload, qos, retain, False, pid, p)
    finally:
        if p is props:
            del props[_TOPIC_ALIAS]
    al.use(a, topic)
