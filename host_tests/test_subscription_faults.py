"""Subscriptions (mqtt5.router, mqtt5.supervisor, mqtt5.message) against a real
Mosquitto, both runtimes: faults an audit found, each test failed with the code before.
scripts/sub_plain.py runs on the session's plain broker, scripts/sub_acl.py on one
with the dynamic security plugin (user node may subscribe under ok/# only, and may
not unsubscribe ok/keep/#)."""

import subprocess

import pytest

from runtimes import run
from test_credentials import _DYNSEC

_PLAIN, _ACL = {}, {}  # one script run per runtime serves the tests below


@pytest.fixture
def plain(runtime, broker):
    if runtime not in _PLAIN:
        _PLAIN[runtime] = run(runtime, "sub_plain.py", broker.port, runtime[:2], timeout=90)
    return _PLAIN[runtime].record


@pytest.fixture
def acl(runtime, broker_factory, tmp_path):
    if runtime not in _ACL:
        conf = tmp_path / "dynsec.json"
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(conf), "admin", "adminpw"],
                       check=True, capture_output=True)
        b = broker_factory(allow_anonymous=False, extra_config="plugin %s\n"
                           "plugin_opt_config_file %s" % (_DYNSEC, conf))
        for rule in (("createClient", "node", "-p", "pw"), ("createRole", "r"),
                     ("addRoleACL", "r", "subscribePattern", "ok/#", "allow"),
                     ("addRoleACL", "r", "publishClientSend", "#", "allow"),
                     ("addRoleACL", "r", "publishClientReceive", "#", "allow"),
                     ("addRoleACL", "r", "unsubscribePattern", "ok/keep/#", "deny"),
                     ("addClientRole", "node", "r")):
            subprocess.run(["mosquitto_ctrl", "-h", b.host, "-p", str(b.port), "-u", "admin",
                            "-P", "adminpw", "dynsec"] + list(rule), check=True,
                           capture_output=True)
        _ACL[runtime] = run(runtime, "sub_acl.py", b.port, runtime[:2], timeout=90)
    return _ACL[runtime].record


@pytest.mark.parametrize("qos", [1, 2])
def test_a_handler_that_always_meets_a_memoryerror_costs_one_reconnect(plain, qos):
    # left unacknowledged once (a want of heap often passes), then, sent again with DUP
    # set, reported and acknowledged.  It was never acknowledged (taken for the client's
    # own want of heap: redelivered at every reconnect, the messages after it held up),
    # then acknowledged at once, and lost, unless the handler was a plain function
    r = plain(step="own_memoryerror", qos=qos)
    assert r["seen"] == ["huge", "huge", "after"] and r["dup"] == [False, True], r
    assert r["links_lost"] == {"heap": 1}, r


@pytest.mark.parametrize("times", [1, 2])
@pytest.mark.parametrize("qos", [1, 2])
def test_a_task_that_cannot_be_made_leaves_its_message_unacknowledged_once(plain, qos,
                                                                           times):
    # (the server sends the message again; at QoS 2 the resend is not taken for a
    # repeat). A task that cannot be made for the resend either: reported, the message
    # acknowledged (it came again at every reconnect)
    r = plain(step="task_memoryerror", qos=qos, times=times)
    assert r["seen"] == ["one", "one", "two"] and r["links_lost"] == {"heap": 1}, r


def test_a_given_subscription_identifier_is_never_handed_to_a_handler(plain):
    # identifier 1 given to a subscribe without handler, then a handler's subscribe
    # got 1 too: the events came to the handler instead of on_message
    r = plain(step="given_identifiers")
    assert r["first"] != 1, r
    assert r["before"] == [["cmd", "g/cmd"], ["on_message", "g/events"]], r
    # the other order: a handler's identifier given to a subscribe without handler
    assert r["after"] == [["cmd2", "g2/cmd"], ["on_message", "g2/events"]], r
    # and still so after another route with that identifier came and went
    assert r["gone"] == [["cmd2", "g2/cmd"], ["on_message", "g2/events"]], r


def test_a_filter_resubscribed_out_of_a_list_gets_its_own_identifier(plain):
    # it reused the list's shared identifier: both handlers ran twice
    assert plain(step="resubscribed")["log"] == ["alone", "list"]


def test_arguments_of_the_wrong_type_are_named_at_the_call(plain):
    r = plain(step="bad_arguments")
    handler = "TypeError: subscribe: handler must be a function or an async def, not "
    kind = "TypeError: %s: expected a topic filter (str) or a list of them, not "
    assert r["out"] == [handler + "int", handler + "str", kind % "subscribe" + "NoneType",
                        "ValueError: subscribe: no topic filter",
                        kind % "unsubscribe" + "bytes", kind % "unsubscribe" + "int"], r
    assert r["routes"] == [] and r["connected"] is True, r
    assert r["sup"] == [handler + "int", kind % "unsubscribe" + "bytes"], r
    assert r["remembered"] == 0, r


def test_a_subscribe_over_tx_size_is_not_remembered(plain):
    r = plain(step="too_big")
    assert r["out"].startswith("MQTTError: ") and "tx_size" in r["out"], r
    assert r["up"] is True, r
    assert r["remembered"] == 0 and r["routes"] == 0, r


def test_a_failed_resubscribe_keeps_the_subscription_it_would_replace(plain, runtime):
    # the earlier one (still on the server, its route put back) was forgotten: after
    # the next link without a session its handler got nothing
    r = plain(step="resubscribe_fails")
    assert r["out"].startswith("MQTTError: ") and "tx_size" in r["out"], r
    assert r["present"] is False and r["got"] == ["a"], r
    assert r["remembered"] == ["subf/%s/s/a" % runtime[:2]], r


def test_a_failed_subscribe_naming_a_filter_twice_keeps_its_old_handler(plain):
    # the routes went back in list order: the last put back was the failed call's own
    r = plain(step="twice_in_a_list")
    assert "tx_size" in r["out"] and r["got"] == ["old"], r


def test_the_supervisor_forgets_each_filter_unsubscribed(acl):
    # l1 of [l1, l2, l3] alone, then [s, l2] (s subscribed alone): all still remembered,
    # and subscribed again at a reconnect without a session
    r = acl(step="forget_per_filter")
    assert r["present"] is False, r
    assert r["before"] == r["after"] == [["A", "a"], ["L", "l3"]], r
    assert r["remembered"] == ["a", "l3"] and r["routes"] == ["a", "l3"], r


def test_a_refused_filter_of_a_list_is_said_and_not_taken_as_acknowledged(acl, runtime):
    r = acl(step="refused_in_a_list")
    tag = runtime[:2]
    # remembered while down, restored: the refusal is the UP state's reason, and the
    # filter is tried again at the next connect (it was stored as acknowledged)
    refusal = "subscribe deny/%s/d2: SUBACK 0x87 Not authorized" % tag
    assert r["down"] == {"reason": refusal, "remembered": [["d1", True], ["d2", None]]}, r
    assert r["states"][-1] == [2, refusal], r  # said again at the next connect
    # subscribed while up: the codes say it, and a refused filter is not remembered
    # (nor one refused alone, which raises)
    assert r["up"] == [1, 0x87] and r["alone"] == "MQTTError: SUBACK 0x87 Not authorized", r
    assert r["remembered"] == [["d1", True], ["d2", None], ["u1", True]], r
    assert "u2" not in r["routes"] and "u3" not in r["routes"], r


def test_a_refused_unsubscribe_keeps_the_handler(acl, runtime):
    # the broker keeps the subscription: its handler was removed, and its messages
    # went to on_message
    r = acl(step="unsubscribe_refused")
    tag = runtime[:2]
    assert r["alone"] == ["MQTTError: UNSUBACK 0x87 Not authorized", 0x87], r
    assert r["listed"] == [0x87, 0], r
    assert r["routes"] == [tag + "/1", tag + "/2"], r
    assert r["log"] == [["handler", tag + "/1"], ["handler", tag + "/2"]], r
    r = acl(step="unsubscribe_refused_sup")  # and the Supervisor still remembers it
    assert r["alone"] == "MQTTError: UNSUBACK 0x87 Not authorized", r
    assert r["listed"] == [0x87, 0], r
    assert r["remembered"] == r["routes"] == [tag + "/3", tag + "/4"], r


def test_an_unsubscribe_refused_at_the_reconnect_is_said_and_the_link_kept(acl, runtime):
    # made while down, sent at the reconnect (the session kept) and refused: taken for
    # a failed connect, 0x87 is fatal, and the Supervisor stopped for good
    r = acl(step="unsubscribe_refused_at_reconnect")
    refusal = "unsubscribe ok/keep/%s/5: UNSUBACK 0x87 Not authorized" % runtime[:2]
    assert r["up"] == [2, refusal, True], r  # (UP; its reason says it)
    assert r["gone"] == [] and r["state"] == 2 and r["reason"] is None, r  # not again
    assert r["failures"] == {} and r["connects"] == 3, r


def test_a_refused_filter_of_a_list_unsubscribed_while_down_is_said(acl, runtime):
    # the list went as one UNSUBSCRIBE at the reconnect, and its codes to nobody: the
    # refused filter, still subscribed on the broker, was said nowhere
    r = acl(step="list_unsubscribe_refused_at_reconnect")
    refusal = "unsubscribe ok/keep/%s/6: UNSUBACK 0x87 Not authorized" % runtime[:2]
    assert [r["state"], r["reason"], r["present"]] == [2, refusal, True], r
    assert r["gone"] == [] and r["routes"] == [], r
