"""Topic names, topic filters and the handler router (MQTT v5 section 4.7).

`matches(filter, topic)` walks both strings level by level with indices, so
matching a message allocates nothing. `Router` keeps (filter, handler) routes
in subscription order and calls every handler whose filter matches.

Subscription Identifiers (spec 3.8.2.1.2, 3.3.2.3.8): a route may carry the
identifier its SUBSCRIBE was sent with (`new_sid()` picks a free one). A message
that carries identifiers is then dispatched by them, an integer compare per route,
without re-matching its topic [MQTT-3.3.4-3]; routes without an identifier are
still matched by topic. Shared subscriptions `$share/<group>/<filter>` (spec 4.8.2)
route on their inner filter.

Identifiers are small integers handed out in subscription order. A session kept
by the server across a reboot (clean_start False) still holds the identifiers of
the old subscriptions: subscribe the same filters in the same order after boot
(the firmware does), so every filter gets its identifier back.
"""

from .wire import check_str as _check, to_utf8, validate_topic  # noqa: F401 (API)

_MAX_SID = const(268435455)  # Subscription Identifier 1..268,435,455 [MQTT-3.8.2.1.2]
_MATCH = const(0)  # route fields: filter matched against topics
_HANDLER = const(1)
_FILTER = const(2)  # as subscribed ($share/... kept)
_SID = const(3)  # Subscription Identifier, 0: none
_SHARED_SID = const(4)  # True: another subscription has the same identifier
_UNKNOWN = const(-1)  # next_match(): the caller does not know the identifiers
_SUBSCRIPTION_IDENTIFIER = const(0x0B)  # property ids (Table 2-4)
_USER_PROPERTY = const(0x26)
_SUBSCRIBE = const(8)  # control packet type


def check_subscribe(filt, qos=0, handler=None, no_local=False, retain_as_published=False,
                    retain_handling=0, subscription_identifier=None, user_properties=None):
    """Raise ValueError (TypeError for an unknown argument or a wrong type) unless
    Client.subscribe() would accept these arguments: valid filters (a str or a list of
    them), QoS and Retain Handling 0..2 [MQTT-3.8.3-5], no No Local on a shared one
    [MQTT-3.8.3-4], a Subscription Identifier of 1..268,435,455 (spec 3.8.2.1.2) and
    user properties as (name, value) string pairs.  Client.subscribe() checks with it
    before it routes anything, and the Supervisor before it remembers a subscription,
    so a bad one never reaches a reconnect.  A handler must be callable."""
    shared = False
    for f in filter_list(filt, "subscribe"):
        shared = shared or f.startswith("$share/")
    if handler is not None and not callable(handler):
        raise TypeError("subscribe: handler must be a function or an async def, not %s"
                        % type(handler).__name__)
    if qos not in (0, 1, 2) or retain_handling not in (0, 1, 2):
        raise ValueError("subscribe: qos and retain_handling must be 0, 1 or 2")
    if no_local and shared:  # a Protocol Error [MQTT-3.8.3-4]
        raise ValueError("subscribe: no_local is not allowed on a shared subscription")
    sid = subscription_identifier
    if sid is not None and (not isinstance(sid, int) or not 0 < sid <= _MAX_SID):
        raise ValueError("subscribe: subscription_identifier must be 1..%d" % _MAX_SID)
    if user_properties:  # the encoder's own check of each pair
        from .properties import size

        try:
            size({_USER_PROPERTY: list(user_properties)}, _SUBSCRIBE)
        except (TypeError, ValueError) as e:
            raise type(e)("subscribe: user_properties must be (name, value) pairs of "
                          "str: %s" % e)


def filter_list(filt, what):
    """`filt` (a topic filter, or a list or tuple of them) as a new list of valid
    filters (validate_filter()): TypeError for another type, ValueError for none."""
    if isinstance(filt, str):
        filt = [filt]
    elif not isinstance(filt, (list, tuple)):
        raise TypeError("%s: expected a topic filter (str) or a list of them, not %s"
                        % (what, type(filt).__name__))
    elif not filt:
        raise ValueError("%s: no topic filter" % what)
    for f in filt:
        validate_filter(f)
    return list(filt)


def validate_filter(filt):
    """Raise ValueError unless `filt` is a valid topic filter (TypeError unless a str).

    '+' must occupy a whole level; '#' a whole level and the last one
    [MQTT-4.7.1-2] [MQTT-4.7.1-3].  A shared subscription `$share/<group>/<filter>`
    names a group without '/', '+' or '#' and is checked on its filter
    [MQTT-4.8.2-1] [MQTT-4.8.2-2].
    """
    _check(filt, "topic filter")
    to_utf8(filt)  # ValueError: a code point we may not send (spec 1.5.4)
    from .subcodec import topic_filter_ok  # (what SUBSCRIBE's encoder checks)

    if not topic_filter_ok(filt):
        raise ValueError("invalid topic filter %r: '+' and '#' take a whole level, '#' "
                         "only the last; a shared one is $share/<group>/<filter>" % filt)
    return filt


def _strip_share(filt):
    # A message arriving through $share/group/f was matched by f.
    if filt.startswith("$share/"):
        return filt[filt.find("/", 7) + 1 :]
    return filt


def matches(filt, topic):
    """True if topic name `topic` matches the (valid) topic filter `filt`.

    Topics starting with '$' are not matched by a filter starting with a
    wildcard [MQTT-4.7.2-1]. 'a/#' also matches 'a'.
    """
    if topic.startswith("$") and (filt.startswith("+") or filt.startswith("#")):
        return False
    fl = len(filt)
    tl = len(topic)
    fi = 0
    ti = 0
    while fi <= fl:
        fe = filt.find("/", fi)
        if fe < 0:
            fe = fl
        if fe - fi == 1 and filt[fi] == "#":
            return True
        if ti > tl:
            return False
        te = topic.find("/", ti)
        if te < 0:
            te = tl
        if not (fe - fi == 1 and filt[fi] == "+"):
            if fe - fi != te - ti:
                return False
            j = ti
            while fi < fe:
                if filt[fi] != topic[j]:
                    return False
                fi += 1
                j += 1
        fi = fe + 1
        ti = te + 1
    return ti > tl


def _has(sids, v):
    # sids: a message's Subscription Identifier(s), int or list (the codec's form)
    if isinstance(sids, int):
        return sids == v
    for x in sids:
        if x == v:
            return True
    return False


async def subscribe(c, filt, qos, handler, no_local, retain_as_published, retain_handling,
                    sid, user_properties):
    """Client.subscribe() (its arguments, `sid` the Subscription Identifier): what the
    client does around the SUBSCRIBE, loaded with the first one."""
    import mqtt5.link as _L

    many = not isinstance(filt, str)
    check_subscribe(filt, qos, handler, no_local, False, retain_handling, sid,
                    user_properties)  # (before any route changes)
    filters = filter_list(filt, "subscribe")
    opts = (qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0)
            | (retain_handling << 4))
    if sid is not None:  # the caller's own: new_sid() goes on after it
        r = routes(c)
        r._sid = max(r._sid, sid)
        if handler is None and sid not in r._given:  # routes holding it are matched
            r._given.append(sid)  # by topic too from now on: this subscription's
            r._mark(sid)          # messages carry it as well
    elif handler is not None and c._s.sub_id_available:
        sid = routes(c).new_sid(None if many else filt)
    props = None
    if sid is not None or user_properties:
        props = {}
        if sid is not None:
            props[_SUBSCRIPTION_IDENTIFIER] = sid
        if user_properties:
            props[_USER_PROPERTY] = list(user_properties)
    old = None
    if handler is not None:  # routed from now: the server's first messages may come
        r = routes(c)        # before this call resumes; a route it replaces is kept
        old = [None] * len(filters)  # to go back to if this one fails
        for i in range(len(filters)):
            for q in r._routes:
                if q[_FILTER] == filters[i]:
                    old[i] = (q[_HANDLER], q[_SID])
            r.add(filters[i], handler, sid or 0)
    try:
        codes = await _L.request(c, c._s.subscribe, [(f, opts) for f in filters], props,
                                 -1, 0, 0, 0)
    except BaseException:  # not subscribed: the route it replaced, or none; but a
        # supervised link that went down keeps it, for the server may hold the
        # subscription and send its messages at the reconnect, before the
        # Supervisor's restore is answered
        if handler is not None and (c._q is None or c._t is not None):
            for i in range(len(filters) - 1, -1, -1):  # (last first: a filter listed
                _back(c, filters[i], old[i])  # twice ends with the route it replaced)
        raise
    for i in range(len(filters) - 1, -1, -1):  # (without a handler no route was touched)
        if codes[i] >= 0x80 and handler is not None:
            _back(c, filters[i], old[i])
    if many:
        return codes
    if codes[0] >= 0x80:
        from .reason_codes import rc_error

        raise rc_error("SUBACK", codes[0])
    return codes[0]


async def unsubscribe(c, filt, user_properties):
    """Client.unsubscribe(): UNSUBSCRIBE, then the routes of the filters it removed go
    (one the server refused, UNSUBACK >= 0x80, is still subscribed: its route stays)."""
    import mqtt5.link as _L

    many = not isinstance(filt, str)
    filters = filter_list(filt, "unsubscribe")
    props = {_USER_PROPERTY: list(user_properties)} if user_properties else None
    codes = await _L.request(c, c._s.unsubscribe, filters, props, -1, 0, 0, 0)
    for i in range(len(filters)):
        if codes[i] < 0x80:
            routes(c).remove(filters[i])
    if many:
        return codes
    if codes[0] >= 0x80:
        from .reason_codes import rc_error

        raise rc_error("UNSUBACK", codes[0])
    return codes[0]


def _back(c, f, old):
    # A failed subscribe of `f`: the route it replaced (handler, identifier), or none
    if old:
        routes(c).add(f, old[0], old[1])
    else:
        routes(c).remove(f)


def routes(c):
    """The Router of client `c` (`c._router`), made on first use: a publish-only node
    never loads this module."""
    r = c._router
    if r is None:
        r = c._router = Router()
    return r


class Router:
    """Ordered topic-filter -> handler routes.

    One handler per filter (subscribing the same filter again replaces it and
    its identifier). Shared subscription filters route on their inner filter.
    """

    def __init__(self):
        self._routes = []  # [match_filter, handler, subscribed_filter, sid, shared_sid]
        self._sid = 0  # the last Subscription Identifier new_sid() gave
        self._given = []  # identifiers the caller gave to subscribes without handler

    def add(self, filt, handler, sid):
        """Route messages matching `filt` to `handler` (replacing an earlier one).

        `sid`: the Subscription Identifier the SUBSCRIBE carries (0: none)."""
        routes = self._routes
        r = None
        for q in routes:
            if q[_FILTER] == filt:
                r = q
                break
        if r is None:
            r = [_strip_share(filt), handler, filt, 0, False]
            routes.append(r)
        r[_HANDLER] = handler
        r[_SID] = sid
        self._mark(sid)

    def _mark(self, sid):
        # flag routes sharing an identifier (several filters in one SUBSCRIBE, or a
        # subscribe without handler given it): those are matched by topic as well
        n = 0
        for q in self._routes:
            if sid and q[_SID] == sid:
                n += 1
        for q in self._routes:
            if q[_SID] == sid:
                q[_SHARED_SID] = n > 1 or sid in self._given

    def remove(self, filt):
        """Forget the route for `filt`; True if there was one."""
        routes = self._routes
        for i in range(len(routes)):
            if routes[i][_FILTER] == filt:
                sid = routes.pop(i)[_SID]
                if sid:
                    self._mark(sid)
                return True
        return False

    def filters(self):
        """The subscribed filters, in subscription order."""
        return [r[_FILTER] for r in self._routes]

    def sid(self, filt):
        """The Subscription Identifier routed for `filt` (0: none or no route)."""
        for r in self._routes:
            if r[_FILTER] == filt:
                return r[_SID]
        return 0

    def new_sid(self, filt):
        """A Subscription Identifier for a new SUBSCRIBE: the one `filt` already
        has alone (None: a SUBSCRIBE of several filters), else the next after the last
        given that no route uses (1..268,435,455, then from 1 again): not soon one
        the server may still hold for a subscribe cancelled after it went out, whose
        messages would reach another handler."""
        routes = self._routes
        if filt is not None:  # (not one shared with other filters: their handler
            for r in routes:  # would get this subscription's messages too)
                if r[_FILTER] == filt and r[_SID] and not r[_SHARED_SID]:
                    return r[_SID]
        v = self._sid
        for _ in range(len(routes) + 1):
            v = v + 1 if v < _MAX_SID else 1
            for r in routes:
                if r[_SID] == v:
                    break
            else:
                self._sid = v
                return v
        raise ValueError("no free subscription identifier")

    def _hit(self, r, topic, sids):
        sid = r[_SID]
        if not sid or sids == _UNKNOWN:
            return matches(r[_MATCH], topic)
        # the server lists the identifier of every subscription that matched
        # [MQTT-3.3.4-3]: not listed, not matched (a server that sends a copy per
        # subscription sends each copy to its own handler); one SUBSCRIBE's filters
        # share an identifier, so those are told apart by topic
        if sids is None or not _has(sids, sid):
            return False
        return not r[_SHARED_SID] or matches(r[_MATCH], topic)

    def next_match(self, topic, i, sids):
        """Index >= i of the next route matching `topic`, or -1.

        `sids`: the message's Subscription Identifier(s) (int or list; None or
        empty: it carried none): routes holding an identifier are then chosen by
        it, not by topic. -1: unknown, every route matches by topic.
        A handler routed by two overlapping filters is reported once.
        Allocation-free: loop `i = r.next_match(t, i, sids)` / `r.handler(i)` /
        `i += 1`.
        """
        routes = self._routes
        n = len(routes)
        if sids is not None and not isinstance(sids, int) and not len(sids):
            sids = None  # an empty list: no identifiers
        while i < n:
            r = routes[i]
            if self._hit(r, topic, sids):
                h = r[_HANDLER]
                j = 0
                while j < i:
                    q = routes[j]
                    if q[_HANDLER] is h and self._hit(q, topic, sids):
                        break
                    j += 1
                else:
                    return i
            i += 1
        return -1

    def handler(self, i):
        return self._routes[i][_HANDLER]
