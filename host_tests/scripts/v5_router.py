# Router dispatch by Subscription Identifier and shared-subscription validation,
# on the running runtime. One JSON record; the pytest side asserts it.
import gc
import json

from mqtt5.router import Router, validate_filter


def routed(r, topic, sids):
    out = []
    i = r.next_match(topic, 0, sids)
    while i >= 0:
        out.append(r.handler(i))
        i = r.next_match(topic, i + 1, sids)
    return out


def sid_cases():
    r = Router()
    r.add("a/#", "A", r.new_sid("a/#"))       # sid 1
    r.add("a/b", "B", r.new_sid("a/b"))       # sid 2
    r.add("x/+", "C", 0)                      # no identifier: matched by topic
    r.add("m1", "M", 7)                       # one SUBSCRIBE, two filters, sid 7
    r.add("m2", "M2", 7)
    out = {
        "sids": [r.sid("a/#"), r.sid("a/b"), r.sid("x/+"), r.sid("nope")],
        "again": r.new_sid("a/b"),            # a re-subscribed filter keeps its id
        "next": r.new_sid(None),              # smallest free: 3
        "both": routed(r, "a/b", [1, 2]),
        "one": routed(r, "a/b", 2),           # by id only, "a/#" not re-matched
        "no_rematch": routed(r, "zzz", 1),    # the id decides, not the topic
        "no_sids": routed(r, "a/b", None),    # none carried: only routes without id
        "empty_list": routed(r, "a/b", []),
        "unknown": routed(r, "a/b", -1),      # caller does not know: topic matching
        "default": [r.handler(r.next_match("a/b", 0, -1))],
        "plain": routed(r, "x/y", [42]),      # a route without id still matches
        "shared_id": routed(r, "m2", 7),      # same id on two filters: topic decides
    }
    r.remove("m1")
    out["after_remove"] = routed(r, "m2", 7)
    r.add("a/b", "B2", 9)                     # re-subscribe replaces handler and id
    out["replaced"] = routed(r, "a/b", 9)
    out["old_id"] = routed(r, "a/b", 2)
    return out


def shared_cases():
    bad = ["$share/g", "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/", "$share/g/a#"]
    good = ["$share/g/a/+", "$share/grp-1/#", "$share/g/a//b", "$shared/a"]
    refused = []
    for f in bad:
        try:
            validate_filter(f)
        except ValueError:
            refused.append(f)
    for f in good:
        validate_filter(f)
    r = Router()
    r.add("$share/g/t/+", "S", 3)
    return {"refused": refused, "bad": bad,
            "inner": routed(r, "t/x", -1), "by_id": routed(r, "t/x", 3),
            "filters": r.filters()}


def alloc():
    r = Router()
    for k in range(6):
        r.add("f/%d/+" % k, k, k + 1)
    sids = [2, 5]
    routed(r, "f/4/x", sids)
    r.next_match("f/1/x", 0, 2)
    gc.collect()
    have = hasattr(gc, "mem_alloc")
    before = gc.mem_alloc() if have else 0
    n = 0
    for _ in range(20):
        i = r.next_match("f/4/x", 0, sids)
        while i >= 0:
            n += 1
            i = r.next_match("f/4/x", i + 1, sids)
        i = r.next_match("f/1/x", 0, 2)
    used = (gc.mem_alloc() - before) if have else 0  # before building the dict
    return {"bytes": used, "hits": n}


print(json.dumps({"sid": sid_cases(), "shared": shared_cases(), "alloc": alloc()}))
