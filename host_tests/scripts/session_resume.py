"""Sans-IO session: resumption after a cut [MQTT-4.4.0-1] against a fake server.

The link is cut at every step of the QoS 1 and QoS 2 flows; the session reconnects
with clean_start=False and the fake server answers Session Present 1 or 0.  Checked:
the bytes sent (DUP [MQTT-3.3.1-1], original packet ids, order [MQTT-4.6.0-1], before
anything new) and the events (PUBLISH_DONE for the original ids, SessionLost).
"""

import mqtt5.session as S
import mqtt5.properties as P
from mqtt5.errors import MQTTError
from session_fake import (connected, out, feed, kinds, eq, raises, run_tests, connack, publish,
    ack, suback, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, CONNECT)


def relink(s, clean_start=False):
    """Cut the link and connect again; returns what went out before CONNACK."""
    s.connection_lost()
    s.connect(0, clean_start=clean_start)
    return out(s)


def reconnect(s, present, props=None):
    """Cut, connect(clean_start=False); returns (events, packets sent after
    CONNACK)."""
    sent = relink(s)
    eq([t for t, _ in sent], [CONNECT], "only CONNECT before CONNACK")
    eq(sent[0][1].clean_start, False, "clean start 0")
    evs = feed(s, connack(session_present=present, props=props))
    return evs, out(s)


def brief(pkts):
    """(type, packet id, dup) per PUBLISH/PUBREL/SUBSCRIBE sent."""
    res = []
    for t, p in pkts:
        if t == PUBLISH:
            res.append((t, p.packet_id, p.dup))
        else:
            res.append((t, getattr(p, "packet_id", None)))
    return res


def session(**kw):
    return connected(session_expiry=600, **kw)


# ---- QoS 1: cut before the PUBLISH was written, and after ----------------------------

def qos1_cut(written):
    s = session()
    pid = s.publish("q1", b"one", 1)
    if written:
        out(s)
    return s, pid


def test_qos1_unwritten_resent_with_session():
    s, pid = qos1_cut(False)
    evs, sent = reconnect(s, True)
    eq(kinds(evs), [S.CONNECTED], "no loss")
    eq(brief(sent), [(PUBLISH, pid, True)], "PUBLISH again, DUP, same id")
    eq((sent[0][1].topic, bytes(sent[0][1].payload)), ("q1", b"one"), "same message")
    evs = feed(s, ack(PUBACK, pid))
    eq([(e["kind"], e["packet_id"], e["error"]) for e in evs],
       [(S.PUBLISH_DONE, pid, None)], "done for the original id")
    eq(s.inflight_count, 0, "slot freed")


def test_qos1_written_resent_with_session():
    s, pid = qos1_cut(True)
    evs, sent = reconnect(s, True)
    eq(brief(sent), [(PUBLISH, pid, True)], "resent with DUP")
    eq(kinds(feed(s, ack(PUBACK, pid))), [S.PUBLISH_DONE], "completes")


def test_qos1_lost_without_session():
    s, pid = qos1_cut(True)
    evs, sent = reconnect(s, False)
    eq(sent, [], "nothing resent")
    eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE], "loss reported after CONNECTED")
    e = evs[1]
    eq((e["packet_id"], e["reason_code"]), (pid, 0x80), "id and code")
    assert isinstance(e["error"], S.SessionLost), e["error"]
    p = e["packet"]
    eq((p.topic, bytes(p.payload), p.qos, p.retain), ("q1", b"one", 1, False),
       "the message to publish again")
    eq(s.inflight_count, 0, "slot freed")
    pid2 = s.publish(p.topic, p.payload, p.qos, p.retain, p.props)
    eq(brief(out(s)), [(PUBLISH, pid2, False)], "re-published as a new message")


def test_resumed_after_a_clean_start_whose_connack_never_came():
    # CONNECT (a clean start, a Session Expiry) and a QoS 1 PUBLISH went out, the link
    # went before CONNACK; the server kept the session: its Session Present 1 was taken
    # for a server that claims one we never had (0x82), at every reconnect
    s = S.Session(session_expiry=600)
    s.connect(0)
    out(s)
    pid = s.publish("q1", b"one", 1)
    eq([t for t, _ in out(s)], [PUBLISH], "sent before CONNACK")
    evs, sent = reconnect(s, True)
    eq(kinds(evs), [S.CONNECTED], "resumed")
    eq(brief(sent), [(PUBLISH, pid, True)], "sent again, DUP")
    # a clean start's own CONNACK may not say Present 1 [MQTT-3.2.2-2]
    s = S.Session(session_expiry=600)
    s.connect(0)
    out(s)
    evs = feed(s, connack(session_present=True))
    eq([(e["kind"], e["reason_code"]) for e in evs if e["kind"] != S.CONNECTED],
       [(S.ERROR, 0x82)], "refused")


def test_losses_reported_in_send_order():
    # A acked, its slot taken by C: slot order was C, B; the loss events (and what a
    # Supervisor queues again from them) came C before B
    s = session()
    a = s.publish("t", b"A", 1)
    b = s.publish("t", b"B", 1)
    out(s)
    feed(s, ack(PUBACK, a))
    c = s.publish("t", b"C", 1)
    out(s)
    evs, sent = reconnect(s, False)
    eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE, S.PUBLISH_DONE], "two losses")
    eq([(e["packet_id"], bytes(e["packet"].payload)) for e in evs[1:]],
       [(b, b"B"), (c, b"C")], "in the order they were sent")


def test_qos_and_retain_kept_for_resend_and_loss():
    # the slot keeps no copy of the flags: QoS comes from what the slot waits for,
    # RETAIN from a state bit, which the QoS 2 flow's PUBREC keeps (qos2.py)
    for qos, retain in ((1, True), (2, True), (2, False), (1, False)):
        s = session()
        pid = s.publish("r", b"x", qos, retain)
        out(s)
        evs, sent = reconnect(s, True)
        p = sent[0][1]
        eq((sent[0][0], p.packet_id, p.qos, bool(p.retain), bool(p.dup)),
           (PUBLISH, pid, qos, retain, True), "resent, QoS %d retain %s" % (qos, retain))
        if qos == 2:  # past PUBREC: the message reported lost still says what it was
            feed(s, ack(PUBREC, pid))
            out(s)
        evs, sent = reconnect(s, False)
        p = evs[1]["packet"]
        eq((p.topic, p.qos, bool(p.retain), evs[1]["packet_id"]), ("r", qos, retain, pid),
           "reported lost, QoS %d retain %s" % (qos, retain))


# ---- QoS 2: cut before PUBREC, before PUBREL went out, before PUBCOMP ----------------

def qos_cut(step):
    """step 0: PUBLISH written; 1: PUBREC received, PUBREL queued not written;
    2: PUBREL written."""
    s = session()
    pid = s.publish("q2", b"two", 2)
    out(s)
    if step >= 1:
        feed(s, ack(PUBREC, pid))
    if step >= 2:
        eq(brief(out(s)), [(PUBREL, pid)], "PUBREL written")
    return s, pid


def test_qos_before_pubrec_resent_with_session():
    s, pid = qos_cut(0)
    evs, sent = reconnect(s, True)
    eq(brief(sent), [(PUBLISH, pid, True)], "PUBLISH again with DUP")
    feed(s, ack(PUBREC, pid))
    eq(brief(out(s)), [(PUBREL, pid)], "then PUBREL")
    evs = feed(s, ack(PUBCOMP, pid))
    eq([(e["kind"], e["packet_id"]) for e in evs], [(S.PUBLISH_DONE, pid)], "done")


def test_qos_pubrel_unwritten_resent_with_session():
    s, pid = qos_cut(1)
    evs, sent = reconnect(s, True)
    eq(brief(sent), [(PUBREL, pid)], "PUBREL, never the PUBLISH again")
    evs = feed(s, ack(PUBCOMP, pid))
    eq([(e["kind"], e["packet_id"], e["error"]) for e in evs],
       [(S.PUBLISH_DONE, pid, None)], "done")


def test_qos_pubrel_written_resent_with_session():
    s, pid = qos_cut(2)
    evs, sent = reconnect(s, True)
    eq(brief(sent), [(PUBREL, pid)], "PUBREL again")
    eq(kinds(feed(s, ack(PUBCOMP, pid))), [S.PUBLISH_DONE], "done")


def test_qos_lost_without_session():
    for step in (0, 1, 2):
        s, pid = qos_cut(step)
        evs, sent = reconnect(s, False)
        eq(sent, [], "nothing resent")
        eq([(e["kind"], e["packet_id"], e["reason_code"]) for e in evs],
           [(S.CONNECTED, 0, 0), (S.PUBLISH_DONE, pid, 0x80)], "lost, step %d" % step)
        assert isinstance(evs[1]["error"], S.SessionLost)
        # released: PUBREC came, our PUBREL was due (it may have reached the server)
        eq(evs[1]["error"].released, step > 0, "released, step %d" % step)
        p = evs[1]["packet"]  # past PUBREC too: a server may deliver only at PUBREL
        eq((p.topic, bytes(p.payload), p.qos), ("q2", b"two", 2), "to re-publish")
        eq(s.inflight_count, 0, "freed")


def test_cut_twice_still_resends():
    s, pid = qos1_cut(True)
    relink(s)  # CONNACK never came
    evs, sent = reconnect(s, True)
    eq(brief(sent), [(PUBLISH, pid, True)], "resent once")


# ---- order, new packets, pacing --------------------------------------------------------

def test_resend_order_before_new_packets():
    s = session()
    a = s.publish("a", b"1", 1)
    b = s.publish("b", b"2", 2)
    c = s.publish("c", b"3", 1)
    sub = s.subscribe([("x/#", 1)])
    out(s)
    feed(s, ack(PUBREC, b))
    out(s)  # PUBREL b written
    relink(s)
    d = s.publish("d", b"4", 1)  # before CONNACK: waits behind the resends
    raises_bf = False
    try:
        s.publish("e", b"5", 0)
    except S.BufferFull:
        raises_bf = True
    assert raises_bf, "QoS 0 waits until the backlog is out"
    eq(s.data_to_send(), None, "nothing new before CONNACK")
    feed(s, connack(session_present=True))
    f = s.publish("f", b"6", 1)
    eq(brief(out(s)), [(PUBLISH, a, True), (PUBREL, b), (PUBLISH, c, True),
                       (SUBSCRIBE, sub), (PUBLISH, d, False), (PUBLISH, f, False)],
       "original order, DUP only on resends, new ones after")
    evs = feed(s, ack(PUBACK, a) + ack(PUBCOMP, b) + ack(PUBACK, c) + suback(sub, [1]) +
               ack(PUBACK, d) + ack(PUBACK, f))
    eq([(e["kind"], e["packet_id"]) for e in evs],
       [(S.PUBLISH_DONE, a), (S.PUBLISH_DONE, b), (S.PUBLISH_DONE, c),
        (S.SUBSCRIBED, sub), (S.PUBLISH_DONE, d), (S.PUBLISH_DONE, f)], "all done")


def test_unsent_new_packets_survive_session_loss():
    s = session()
    a = s.publish("a", b"1", 1)
    out(s)
    relink(s)
    d = s.publish("d", b"4", 1)  # queued, never sent
    evs = feed(s, connack(session_present=False))
    eq([(e["kind"], e["packet_id"]) for e in evs],
       [(S.CONNECTED, 0), (S.PUBLISH_DONE, a)], "only the old one is lost")
    eq(brief(out(s)), [(PUBLISH, d, False)], "the new one goes out as new")


def test_resend_paced_by_transmit_room():
    s = session(tx_size=160, max_inflight=8)
    pids = [s.publish("t", b"x" * 40, 1) for _ in range(2)]
    out(s)
    pids += [s.publish("t", b"x" * 40, 1) for _ in range(2)]
    out(s)
    relink(s)
    feed(s, connack(session_present=True))
    got = []
    for _ in range(10):
        pk = out(s)
        if not pk:
            break
        got += brief(pk)
    eq(got, [(PUBLISH, p, True) for p in pids], "all resent, in order, as room allows")


def test_resend_respects_new_receive_maximum():
    s = session(max_inflight=4)
    pids = [s.publish("t", b"%d" % i, 1) for i in range(3)]
    out(s)
    evs, sent = reconnect(s, True, props={P.RECEIVE_MAXIMUM: 2})
    eq(brief(sent), [(PUBLISH, pids[0], True), (PUBLISH, pids[1], True)], "quota of 2")
    eq(s.send_quota(), 0, "no quota for new publishes")
    feed(s, ack(PUBACK, pids[0]))
    eq(brief(out(s)), [(PUBLISH, pids[2], True)], "third once one is acked")


def test_resend_never_uses_a_stale_alias():
    s = session(connack_props={P.TOPIC_ALIAS_MAXIMUM: 4}, topic_alias_out=8)
    a = s.publish("long/topic/name", b"1", 1)
    b = s.publish("long/topic/name", b"2", 1)
    pk = out(s)
    eq([(p.topic, (p.props or {}).get(P.TOPIC_ALIAS)) for t, p in pk],
       [("long/topic/name", 1), ("", 1)], "alias in use before the cut")
    evs, sent = reconnect(s, True, props={P.TOPIC_ALIAS_MAXIMUM: 4})
    eq([(p.packet_id, p.topic, p.dup, (p.props or {}).get(P.TOPIC_ALIAS))
        for t, p in sent],
       [(a, "long/topic/name", True, None), (b, "long/topic/name", True, None)],
       "full topic, no alias, on resend")
    c = s.publish("long/topic/name", b"3", 1)
    eq([(p.packet_id, p.topic, p.props[P.TOPIC_ALIAS]) for t, p in out(s)],
       [(c, "long/topic/name", 1)], "a new mapping on the new connection")


def test_inbound_qos_ids_cleared_without_session():
    s = session()
    eq(kinds(feed(s, publish("t", b"x", 2, pid=5))), [S.MESSAGE], "delivered")
    out(s)
    evs, sent = reconnect(s, False)
    eq(kinds(feed(s, publish("t", b"y", 2, pid=5))), [S.MESSAGE],
       "id 5 is a new message once the session is gone")


def test_clean_start_reports_loss():
    s = session()
    pid = s.publish("t", b"", 1)
    out(s)
    relink(s, clean_start=True)
    evs = feed(s, connack(session_present=False))
    eq([(e["kind"], e["packet_id"]) for e in evs],
       [(S.CONNECTED, 0), (S.PUBLISH_DONE, pid)], "clean start: lost too")
    assert isinstance(evs[1]["error"], S.SessionLost)


def test_subscribe_in_flight():
    s = session()
    sub = s.subscribe([("a/#", 1), ("b", 0)])
    out(s)
    evs, sent = reconnect(s, True)
    eq(brief(sent), [(SUBSCRIBE, sub)], "SUBSCRIBE again with a session")
    eq([e["reason_codes"] for e in feed(s, suback(sub, [1, 0]))], [[1, 0]], "SUBACK")
    s = session()
    sub = s.subscribe([("a/#", 1)])
    out(s)
    evs, sent = reconnect(s, False)
    eq([(e["kind"], e["packet_id"]) for e in evs],
       [(S.CONNECTED, 0), (S.SUBSCRIBED, sub)], "lost without one")
    eq(list(evs[1]["packet"].topics), [("a/#", 1)], "the request to send again")



def test_early_pubrec_for_a_queued_resend():
    # a server acking a QoS 2 PUBLISH before we resent it: PUBREL, no resend, no hang
    s = session()
    a = s.publish("a", b"", 2)
    b = s.publish("b", b"", 2)
    out(s)
    relink(s)
    feed(s, connack(session_present=True, props={P.RECEIVE_MAXIMUM: 1}))
    eq(brief(out(s)), [(PUBLISH, a, True)], "b waits for quota")
    feed(s, ack(PUBREC, b))  # early, for the queued one
    eq(brief(out(s)), [(PUBREL, b)], "PUBREL at once")
    eq(s._inflight[7], 0, "no longer queued")  # (the QUEUED count: inflight.py)
    feed(s, ack(PUBREC, a))
    eq(brief(out(s)), [(PUBREL, a)], "a goes on")
    evs = feed(s, ack(PUBCOMP, a) + ack(PUBCOMP, b))
    eq([(e["kind"], e["packet_id"]) for e in evs],
       [(S.PUBLISH_DONE, a), (S.PUBLISH_DONE, b)], "both done")


def test_requests_behind_backlog_validated_at_once():
    s = session()
    s.publish("a", b"1", 1)
    s.publish("b", b"2", 1)
    relink(s)  # backlog: the resends wait for CONNACK
    raises(ValueError, s.publish, "bad/#", b"", 1)
    raises(ValueError, s.subscribe, [("a/#/b", 0)])
    eq(s.inflight_count, 2, "no slot kept")
    limits = {P.MAXIMUM_PACKET_SIZE: 100, P.RECEIVE_MAXIMUM: 1}
    feed(s, connack(session_present=True, props=limits))
    eq(len(out(s)), 1, "one resent; the other waits for send quota")
    e = raises(MQTTError, s.subscribe, [("x" * 200, 0)])
    eq(e.reason_code, 0x95, "over the limit: refused at once, not queued")
    eq(len(s._inflight[0]) - s._inflight[0].count(0), 2, "no slot kept")  # (ids)


run_tests(globals())
