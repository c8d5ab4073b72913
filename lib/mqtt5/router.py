"""Topic names, topic filters and the handler router (MQTT v5 section 4.7).

`matches(filter, topic)` walks both strings level by level with indices, so
matching a message allocates nothing. `Router` keeps (filter, handler) routes
in subscription order and calls every handler whose filter matches.
"""

from ._compat import const

_MAX_LEN = const(65535)


def _check(s, what):
    if not isinstance(s, str):
        raise TypeError(what + " must be str")
    n = len(s)
    if n == 0 or n > _MAX_LEN or "\x00" in s:
        raise ValueError("invalid " + what + ": %r" % s)


def validate_topic(topic):
    """Raise ValueError unless `topic` is a valid topic name (no wildcards)."""
    _check(topic, "topic")
    if "+" in topic or "#" in topic:
        raise ValueError("wildcard in topic name: %r" % topic)
    return topic


def validate_filter(filt):
    """Raise ValueError unless `filt` is a valid topic filter.

    '+' must occupy a whole level; '#' a whole level and the last one.
    A shared subscription `$share/<group>/<filter>` is checked on its filter.
    """
    _check(filt, "topic filter")
    if filt.startswith("$share/"):
        i = filt.find("/", 7)
        if i <= 7 or "+" in filt[7:i] or "#" in filt[7:i] or i + 1 >= len(filt):
            raise ValueError("invalid shared subscription: %r" % filt)
    n = len(filt)
    i = 0
    while i < n:
        c = filt[i]
        if c == "+" or c == "#":
            if (i > 0 and filt[i - 1] != "/") or (i + 1 < n and filt[i + 1] != "/"):
                raise ValueError("wildcard not alone in its level: %r" % filt)
            if c == "#" and i + 1 != n:
                raise ValueError("'#' not last in filter: %r" % filt)
        i += 1
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


class Router:
    """Ordered topic-filter -> handler routes.

    One handler per filter (subscribing the same filter again replaces it).
    Shared subscription filters route on their inner filter.
    """

    def __init__(self):
        self._routes = []  # [match_filter, handler, subscribed_filter]

    def add(self, filt, handler):
        """Route messages matching `filt` to `handler` (replacing an earlier one)."""
        for r in self._routes:
            if r[2] == filt:
                r[1] = handler
                return
        self._routes.append([_strip_share(filt), handler, filt])

    def remove(self, filt):
        """Forget the route for `filt`; True if there was one."""
        routes = self._routes
        for i in range(len(routes)):
            if routes[i][2] == filt:
                routes.pop(i)
                return True
        return False

    def filters(self):
        """The subscribed filters, in subscription order."""
        return [r[2] for r in self._routes]

    def next_match(self, topic, i=0):
        """Index >= i of the next route matching `topic`, or -1.

        A handler routed by two overlapping filters is reported once.
        Allocation-free: loop `i = r.next_match(t, i)` / `r.handler(i)` / `i += 1`.
        """
        routes = self._routes
        n = len(routes)
        while i < n:
            r = routes[i]
            if matches(r[0], topic):
                h = r[1]
                j = 0
                while j < i:
                    q = routes[j]
                    if q[1] is h and matches(q[0], topic):
                        break
                    j += 1
                else:
                    return i
            i += 1
        return -1

    def handler(self, i):
        return self._routes[i][1]
