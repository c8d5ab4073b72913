"""Sans-IO session: enhanced authentication (spec 4.12) and server redirection (spec
4.11) against a fake server (Mosquitto has no AUTH method without plugins)."""

import mqtt5.session as S
import mqtt5.packets as packets
import mqtt5.properties as P
from mqtt5.errors import MQTTError
from session_fake import (out, feed, events, kinds, types, eq, raises, run_tests, connack, ack,
    disconnect, CONNECT, PUBLISH, PUBACK, DISCONNECT)

AUTH = 15
METHOD = "SCRAM-X"


class Authenticator:
    """A scripted challenge/response: proof = b"proof:" + challenge."""

    def __init__(self, fail_step=False):
        self.log = []
        self.fail_step = fail_step

    def start(self):
        self.log.append("start")
        return b"client-first"

    def step(self, data):
        self.log.append(("step", data))
        if self.fail_step:
            raise ValueError("cannot answer")
        return b"proof:" + data

    def finish(self, data):
        self.log.append(("finish", data))
        if data != b"server-ok":
            raise ValueError("bad server signature")


def auth(rc, method=METHOD, data=None):
    props = {}
    if method is not None:
        props[P.AUTHENTICATION_METHOD] = method
    if data is not None:
        props[P.AUTHENTICATION_DATA] = data
    return bytes(packets.encode(packets.Auth(reason_code=rc, props=props or None)))


def ok_connack(data=b"server-ok", method=METHOD, **kw):
    props = {P.AUTHENTICATION_DATA: data} if data is not None else {}
    if method is not None:
        props[P.AUTHENTICATION_METHOD] = method
    return connack(props=props, **kw)


def session(a=None, **kw):
    s = S.Session("x", auth_method=METHOD, authenticator=a or Authenticator(), **kw)
    s.connect(0)
    return s


def auths(pkts):
    return [(t, p.reason_code, (p.props or {}).get(P.AUTHENTICATION_METHOD),
             (p.props or {}).get(P.AUTHENTICATION_DATA)) for t, p in pkts]


def expect_error(s, data, code, sent=None):
    # `code`: the error's; `sent`: the DISCONNECT's, the same but for a code only a
    # server may send (spec 3.14.2.1)
    evs = feed(s, data)
    sent = code if sent is None else sent
    eq((kinds(evs), evs[0]["reason_code"], evs[0]["error"].reason_code),
       ([S.ERROR], sent, code), "error event")
    eq([(t, d.reason_code) for t, d in out(s)][-1:], [(DISCONNECT, sent)], "DISCONNECT")
    eq(s.state, S.CLOSED, "closed")


def established(a=None):
    s = session(a)
    out(s)
    eq(kinds(feed(s, ok_connack())), [S.CONNECTED], "connected")
    return s


# ---- authentication during connect ----------------------------------------------------

def test_connect_with_challenge_response():
    a = Authenticator()
    s = session(a)
    pk = out(s)
    eq(types(pk), [CONNECT], "CONNECT")
    pr = pk[0][1].props
    eq((pr[P.AUTHENTICATION_METHOD], pr[P.AUTHENTICATION_DATA]), (METHOD, b"client-first"),
       "method and start() data in CONNECT")
    pid = s.publish("t", b"early", 1)  # nothing but AUTH before CONNACK [MQTT-3.1.2-30]
    raises(S.BufferFull, s.publish, "t", b"", 0)
    eq(s.data_to_send(), None, "held back")
    eq(feed(s, auth(0x18, data=b"chal-1")), [], "no event for a challenge")
    eq(auths(out(s)), [(AUTH, 0x18, METHOD, b"proof:chal-1")], "AUTH 0x18 answer")
    feed(s, auth(0x18, data=b"chal-2"))
    eq(auths(out(s)), [(AUTH, 0x18, METHOD, b"proof:chal-2")], "second round")
    evs = feed(s, ok_connack())
    eq(kinds(evs), [S.CONNECTED], "connected")
    eq(a.log, ["start", ("step", b"chal-1"), ("step", b"chal-2"), ("finish", b"server-ok")],
       "authenticator calls")
    eq([(t, p.packet_id) for t, p in out(s)], [(PUBLISH, pid)], "held publish goes out")


def test_connack_without_method_is_protocol_error():
    s = session()
    out(s)
    expect_error(s, ok_connack(data=None, method=None), 0x82)  # [MQTT-4.12.0-5]


def test_auth_with_other_method_is_protocol_error():
    s = session()
    out(s)
    expect_error(s, auth(0x18, method="OTHER", data=b"c"), 0x82)  # [MQTT-4.12.0-5]


def test_auth_without_our_method_is_protocol_error():
    s = S.Session("x")
    s.connect(0)
    out(s)
    expect_error(s, auth(0x18, data=b"c"), 0x82)  # [MQTT-4.12.0-6]


def test_auth_success_or_reauth_from_server_is_protocol_error():
    s = session()
    out(s)
    expect_error(s, auth(0x00), 0x82)  # success comes as CONNACK during connect
    expect_error(established(), auth(0x19), 0x82)  # only the client re-authenticates
    expect_error(established(), auth(0x18, data=b"c"), 0x82)  # no exchange running


def test_server_refuses():
    s = session()
    out(s)
    evs = feed(s, connack(reason_code=0x8C))  # Bad authentication method
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x8C), "refused")
    assert "0x8C" in str(evs[0]["error"]), evs[0]["error"]
    eq(s.state, S.CLOSED, "closed")


def test_authenticator_failure_is_0x87():
    # 0x87 Not authorized, which only a server may put in a DISCONNECT: ours says 0x80
    s = session(Authenticator(fail_step=True))
    out(s)
    expect_error(s, auth(0x18, data=b"c"), 0x87, 0x80)
    s = session()
    out(s)
    expect_error(s, ok_connack(data=b"forged"), 0x87, 0x80)  # finish() rejects the server


def test_auth_waits_for_an_empty_transmit_buffer():
    s = established()
    s.reauthenticate()
    s.publish("t", b"x", 0)  # queued, not written
    eq(feed(s, auth(0x18, data=b"c")), [], "paused")
    eq(types(out(s)), [AUTH, PUBLISH], "flushed first")
    eq(events(s), [], "no event")
    eq(auths(out(s)), [(AUTH, 0x18, METHOD, b"proof:c")], "then answered")


def test_auth_answer_too_large_is_0x83():
    class Big(Authenticator):
        def step(self, data):
            return b"x" * 300

    s = session(Big(), tx_size=128)
    out(s)
    expect_error(s, auth(0x18, data=b"c"), 0x83)


def test_auth_method_needs_authenticator():
    raises(ValueError, S.Session, "x", auth_method=METHOD)
    raises(ValueError, S.Session, "x", authenticator=Authenticator())


# ---- re-authentication (spec 4.12.1) ---------------------------------------------------

def test_reauthenticate():
    a = Authenticator()
    s = established(a)
    s.reauthenticate()
    eq(auths(out(s)), [(AUTH, 0x19, METHOD, b"client-first")], "AUTH 0x19 [MQTT-4.12.1-1]")
    raises(MQTTError, s.reauthenticate)  # one at a time
    pid = s.publish("t", b"", 1)  # traffic goes on meanwhile
    feed(s, auth(0x18, data=b"chal"))  # parsed once the PUBLISH is written
    eq([(t, p.packet_id) for t, p in out(s)], [(PUBLISH, pid)], "publish first")
    eq(events(s), [], "no event for the challenge")
    eq(auths(out(s)), [(AUTH, 0x18, METHOD, b"proof:chal")], "answered")
    evs = feed(s, ack(PUBACK, pid) + auth(0x00, data=b"server-ok"))
    eq(kinds(evs), [S.PUBLISH_DONE, S.REAUTHENTICATED], "done")
    eq(a.log[-1], ("finish", b"server-ok"), "finish called")
    s.reauthenticate()  # again later
    eq(auths(out(s))[0][:2], (AUTH, 0x19), "again")


def test_reauthenticate_refused_by_server():
    s = established()
    s.reauthenticate()
    out(s)
    evs = feed(s, disconnect(0x87))  # [MQTT-4.12.1-2]
    eq((kinds(evs), evs[0]["reason_code"]), ([S.DISCONNECTED], 0x87), "disconnected")


def test_reauthenticate_needs_method_and_connection():
    s = S.Session("x")
    s.connect(0)
    out(s)
    feed(s, connack())
    raises(MQTTError, s.reauthenticate)  # [MQTT-4.12.0-7]
    s = session()
    raises(MQTTError, s.reauthenticate)  # before CONNACK


# ---- server redirection (spec 4.11) ----------------------------------------------------

def plain():
    s = S.Session("x")
    s.connect(0)
    out(s)
    return s


def test_connack_use_another_server():
    for rc in (0x9C, 0x9D):
        s = plain()
        evs = feed(s, connack(reason_code=rc, props={P.SERVER_REFERENCE: "b.example:1883"}))
        e = evs[0]
        eq((e["kind"], e["reason_code"]), (S.ERROR, rc), "refused")
        eq(s.server_reference, "b.example:1883", "on the session")
        eq(s._ev.server_reference, "b.example:1883", "on the event")


def test_disconnect_server_moved():
    s = plain()
    feed(s, connack())
    evs = feed(s, disconnect(0x9D, props={P.SERVER_REFERENCE: "c.example"}))
    eq((kinds(evs), evs[0]["reason_code"], evs[0]["by_server"]),
       ([S.DISCONNECTED], 0x9D, True), "moved")
    eq((s.server_reference, s._ev.server_reference), ("c.example", "c.example"), "where")
    s.connect(0)
    eq(s.server_reference, None, "forgotten on the next connect")


def test_no_reference_by_default():
    s = plain()
    feed(s, connack())
    eq((s.server_reference, s._ev.server_reference), (None, None), "none")
    evs = feed(s, disconnect(0x8B))
    eq((s.server_reference, evs[0]["kind"]), (None, S.DISCONNECTED), "none on 0x8B")


run_tests(globals())
