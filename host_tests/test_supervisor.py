"""mqtt5.supervisor and mqtt5.offline without faults (both runtimes): reason
classification, the offline queue's limits, policies, expiry and order, the
reconnect loop over a scripted client, and a supervised client on a real broker.
The fault tests are in test_resilience_faults.py and test_resilience_session.py;
backoff in test_backoff.py."""

import tempfile

import pytest

from runtimes import M32_FROZEN, interrupted, parse_records, run, spawn

_RESULTS = {}  # one script run per runtime serves every unit test below


@pytest.fixture
def rec(runtime):
    if runtime not in _RESULTS:
        _RESULTS[runtime] = run(runtime, "supervisor_units.py", timeout=60)
    result = _RESULTS[runtime]
    return lambda check: result.record(check=check)


def test_reason_codes_classified(rec):
    r = rec("classify")
    assert r["fatal"] == ["fatal"] * 8          # 0x84 0x85 0x86 0x87 0x8A 0x8C 0x9A 0x9B
    assert r["transient"] == ["transient"] * 6  # 0x88 0x89 0x97 0x9F, other, network
    assert r["redirect"] == ["redirect"] * 2    # 0x9C 0x9D
    assert r["keys"] == [0x86, "network", "timeout", "keepalive", "network", "heap", "heap"]


def test_queue_drop_oldest_tells_the_dropped_caller(rec):
    r = rec("drop_oldest")
    assert r["order"] == ["2", "3", "4"] and r["n"] == 3 and r["bytes"] == 6
    assert r["drops"] == 2 and r["dropped_waiters"] == [11]  # the QoS 1 one


def test_queue_live_entries_pass_the_limits_and_are_never_dropped(rec):
    # four live ones (172 B, over max_bytes=100), then five others with max_count=3
    r = rec("live_drop")  # DROP_OLDEST: the oldest of the others goes, a QoS 1 caller told
    assert r["order"] == ["L0", "L1", "L2", "L3", "q2", "q3", "q4"], r
    assert r["dropped_waiters"] == [21] and r["drops"] == 2 and r["refused"] == [], r
    assert r["n"] == 0 and r["bytes"] == 0 and r["live"] == [0, 0], r
    r = rec("live_refuse")  # REFUSE: the newcomers beyond the limits are refused
    assert r["order"] == ["L0", "L1", "L2", "L3", "q0", "q1", "q2"], r
    assert r["refused"] == [3, 4] and r["dropped_waiters"] == [], r


def test_queue_live_entries_that_expired_leave_the_ring_whole(rec):
    # four live QoS 1 publishes expired one by one (the link's send quota used up),
    # each slot freed and taken by the next: the fifth overwrote the oldest entry.
    # Now an expired entry is live no more, and the expired go before anything is
    # dropped or refused
    for policy in ("drop", "refuse"):
        r = rec("live_expired_" + policy)
        assert r["topics"] == ["new"] and r["new"] == "queued", r
        assert r["expired"] == 4 and r["drops"] == 0 and r["bytes"] == 0, r
        assert r["live"] == [0, 0] and r["told"] == [[1, 1], [2, 1], [1, 1], [2, 1]], r


def test_queue_refuse_and_byte_limit(rec):
    r = rec("refuse")
    assert r["refused"][0].startswith("offline queue full") and r["refused"][1] == 0x97
    assert "over the queue's max_bytes" in r["big"]
    assert r["drops"] == 1 and r["n"] == 2


def test_queue_message_expiry_reduced_then_dropped(rec):
    # [MQTT-3.3.2-6]: the interval sent is reduced by the time spent queued
    r = rec("expiry")
    assert (r["at_0"], r["at_2500"], r["original"]) == (5, 3, 5)
    assert r["expired_4999"] is False and r["expired_5000"] is True and r["gone"] is None


def test_queue_lost_inflight_go_first_in_order(rec):
    assert rec("put_front")["order"] == ["lost1", "lost2", "new1", "new2"]


def test_loop_rotation_redirect_clean_start_backoff_fatal(rec):
    r = rec("loop")
    # [url, clean_start, attempt] per connect: a/b rotate, 0x9C's Server Reference
    # is tried next without waiting or counting, Clean Start until the first
    # success only, the attempt count resets after a link stable for 50 ms
    assert r["calls"] == [["mqtt://a:1", True, 0], ["mqtt://b:2", True, 1],
                          ["mqtt://a:1", True, 2], ["mqtt://c:3", True, 2],
                          ["mqtt://b:2", False, 3], ["mqtt://a:1", False, 1]]
    assert r["subs"] == ["x/#"]  # restored once: Session Present 0 only
    assert r["state"] is True and r["reason"] == "CONNACK 0x86 Bad User Name or Password"
    st = r["stats"]
    assert st["failures"] == {"network": 1, "0x88": 1, "0x9C": 1, "0x86": 1}
    assert st["links_lost"] == {"0x89": 1, "network": 1}
    assert (st["connects"], st["reconnects"]) == (2, 1)
    assert r["states"][-1] == 3  # STOPPED
    # the wait each DOWN announces (half the window, Half()): 4, 8, a redirect at
    # once, 16, then 4 again after the stable link; None for the fatal refusal
    assert r["waits"] == [4, 8, 0, 16, 4, None], r["waits"]


def test_a_full_heap_that_reaches_the_loop_is_said_and_counted_as_a_lost_link(rec):
    r = rec("heap")
    assert r["downs"][0] == ("connection lost: heap full: memory allocation failed, "
                             "allocating 64 bytes"), r
    assert r["links_lost"] == {"heap": 1} and r["connects"] == 2, r


def test_unsubscribes_while_down_are_kept_once_each(rec):
    assert rec("gone")["gone"] == ["x/#", "y/1", "y/2"]


def test_redirect_loops_back_off_and_server_moved_sticks(rec):
    r = rec("redirects")
    # [url, clean_start, attempt]: three 0x9C hops in a row are followed at once,
    # the fourth backs off (attempt 0 -> 1); 0x9D from the list URL replaces it
    assert r["calls"] == [["mqtt://a:1", True, 0], ["mqtt://b:2", True, 0],
                          ["mqtt://a:1", True, 0], ["mqtt://b:2", True, 0],
                          ["mqtt://a:1", True, 1], ["mqtt://m:9", True, 1],
                          ["mqtt://m:9", False, 2]]
    assert r["urls"] == ["mqtt://m:9"] and r["reason"] == "CONNACK 0x87 Not authorized"


def test_a_reference_to_plain_tcp_or_unparsable_is_not_followed(rec):
    # a broker must not steer a TLS client to plain TCP (credentials in clear), nor
    # stop the supervisor with a reference that does not parse
    r = rec("refused_refs")
    assert r["calls"] == [["mqtts://s:1", True, 0], ["mqtts://s:1", True, 1],
                          ["mqtts://s:1", True, 2], ["mqtts://ok:8883", True, 2]], r
    assert r["urls"] == ["mqtts://s:1"] and r["failures"] == {"0x9C": 2, "0x9D": 1, "0x87": 1}
    assert r["mixed"] == "broker URLs mix mqtt:// and mqtts://: nothing falls back to plain TCP"
    # with credentials over plain TCP, only a reference to the same host is followed
    assert rec("plain_refs")["calls"] == ["mqtt://127.0.0.1:1", "mqtt://127.0.0.1:2",
                                          "mqtt://127.0.0.1:1"]
    # user:password@ in a URL is refused, without echoing the password
    assert rec("userinfo")["error"] == ("bad URL mqtt://...@127.0.0.1:1883: credentials do "
                                        "not go in the URL (pass username= and password=)")


def test_supervised_client_on_a_broker(runtime, broker):
    res = run(runtime, "supervisor_basic.py", broker.port, runtime, timeout=60)
    r = res.record(step="basic")
    base = "sb/" + runtime
    assert r["rc_early"] == 0 and r["rcs"] == [None, 0, 0]  # queued before start()
    assert r["topics"] == sorted(base + t for t in ("/birth", "/early", "/early0", "/q0", "/q1",
                                                    "/q2"))
    assert r["first"] == base + "/birth"  # ahead of what was queued before the link
    assert r["states"] == [1, 2]  # CONNECTING, UP
    st = r["stats"]
    assert st["connects"] == 1 and st["msgs_in"] == 6 and st["msgs_out"] == 6
    assert st["bytes_in"] > 0 and st["bytes_out"] > 0 and st["queued"] == 0
    assert res.record(step="stopped") == {"step": "stopped", "state": 3, "connected": False}
    r = res.record(step="slots")  # 10 callers, 4 slots, a restore on the way
    assert r["rcs"] == [0] * 10 and r["order"] == [str(i) for i in range(10)], r
    r = res.record(step="drop_oldest")  # queue_count=2, three QoS 1 callers
    assert r["first"] == "publish dropped: offline queue full (drop-oldest)", r
    assert r["rest"] == ["supervisor stopped"] * 2 and r["drops"] == 1, r
    r = res.record(step="refuse_expire")
    assert r["refused"].startswith("offline queue full (1 messages"), r
    assert r["rcs"] == [0x97, 0x97], r  # dropped, refused: Quota exceeded, as a broker says
    assert r["expired"] == "message expired in the offline queue", r
    assert r["queue_expired"] == 1, r
    assert r["slot_waiter"] == [0, "message expired in the offline queue"], r
    r = res.record(step="bursts")  # every one delivered, none dropped (0x10: no subscriber;
    # the first step's session, kept 60 s, still holds a subscription to them)
    assert [len(x[0]) == 1 and x[0][0] in ("0", "16") for x in r["out"]] == [True] * 3, r
    assert r["out"][0][1] == r["out"][1][1] == 0, r  # (the third's QoS 0 ones may drop)


@pytest.mark.runtimes(("micropython", M32_FROZEN))  # (CPython has no gc.mem_alloc())
def test_supervision_heap_cost(runtime, broker):
    # printed with -s; MicroPython: Supervisor + queue, and the transient bytes a
    # publish allocates, plain vs supervised.  A supervised QoS 1 publish with a free
    # slot goes into the offline queue from the call itself and waits on its slot's
    # Signal, as a plain one does: measured 2026-12-01, 224 B both on 64-bit, 112 B
    # both on 32-bit frozen (1,056 against 544 B on 64-bit before); the Supervisor
    # with its queue 6,656 B on 64-bit (.mpy: bytecode included), 2,336 B frozen.
    rec = run(runtime, "supervisor_mem.py", broker.port, runtime, timeout=60).records[0]
    print("SUPERVISOR MEM", runtime, rec)
    if runtime == "micropython":
        assert 0 < rec["supervisor_bytes"] < 8192, rec
    if runtime == M32_FROZEN:
        assert 0 < rec["supervisor_bytes"] <= 2560, rec
    if runtime != "cpython":
        assert rec["supervised_qos1"] - rec["plain_qos1"] <= 32, rec
        assert rec["supervised_qos0"] - rec["plain_qos0"] <= 32, rec


def test_bad_input_fails_at_the_call_and_never_wedges_the_client(runtime, broker):
    res = run(runtime, "supervisor_misuse.py", broker.port, runtime, timeout=60)
    r = res.record(step="fresh_resume")
    assert r["up"] is False, r  # a new session, after one refused resume
    assert r["downs"] == ["0x82 Protocol Error: unexpected Session Present"], r
    assert r["failures"] == {"0x82": 1}, r
    r = res.record(step="down")
    assert r["results"] == ["None", "ValueError", "ValueError"], r
    assert r["remembered"] == [] and r["routes"] == ["d/a", "d/b"], r
    assert r["after_unsub"] == [], r
    assert r["coded"] == ["U+0001 at character 2 of an MQTT string: a control character "
                          "or non-character (spec 1.5.4)"] * 2, r
    assert r["gone"] == ["d/a", "d/b"], r  # (to unsubscribe at the resume; not d/\x01)
    # down or connecting (not stopped), its on_state's 1 // 0 shown
    assert r["state"] in (0, 1) and "mqtt5: handler error" in res.stdout
    assert "ZeroDivisionError" in res.stdout + res.stderr
    r = res.record(step="bad_subscribe")
    # a bad filter, QoS 3 and a misspelt argument raise at once, are not remembered,
    # and the supervisor comes back after its link was taken over
    assert r["refused"] == ["ValueError", "ValueError", "TypeError"]
    assert r["up"] is True and r["reconnects"] == 1 and r["remembered"] == 0
    r = res.record(step="after_stop")
    assert r["publish"] == ["MQTTError", "MQTTError"] and r["wait_up"] == "MQTTError"
    r = res.record(step="bad_option")
    # a bad URL, keepalive, max_inflight, rx_size, session_expiry, alias counts, client id,
    # will, a float where an int goes or a negative max_packet_size raises at
    # Supervisor()/Client()
    assert r["early"] == (["ValueError"] * 8 + ["TypeError"] * 4 + ["ValueError", "TypeError"]
                          ), r["early"]
    # a password callback returning an int: one attempt, then stopped with the reason
    assert r["state"] == 3 and r["connecting"] == 1 and r["reason"] == "TypeError"
    assert r["up"] == ("MQTTError: supervisor stopped: the password callback must return "
                       "bytes, str or None")
    r = res.record(step="two_connects")
    assert r["results"] == ["MQTTError", "bool"] and r["connected"] is True
    r = res.record(step="handlers")
    assert r["routes"] == []            # the failed subscribe left no route
    assert r["bad_pub"] == [True, True]  # ValueErrors, the 70,000-character topic not quoted
    kind = "TypeError: payload must be bytes, bytearray, memoryview or str, not "
    not_text = "ValueError: payload_format_indicator=1, but the payload is not UTF-8 text"
    assert r["bad_payload"] == [kind + "int", kind + "NoneType", kind + "list",
                                not_text, not_text, "accepted", kind + "int"]
    assert r["echoes"] == ["once"]      # a handler returning publish(...) ran once
    assert r["kept"] == ["k1", "k2", "k3"]
    r = res.record(step="refused_at_the_call")
    # supervised: QoS 4, 5, -1 and 3 raise at the call (4 had hung in a waiter slot); a
    # Subscription Identifier of 0 raises and is not remembered
    assert r["sup_qos"] == ["ValueError"] * 4, r
    assert r["sup_sid"] == "subscribe: subscription_identifier must be 1..268435455", r
    assert r["remembered"] == 0, r
    # a re-subscribe refused at the call keeps the route it would have replaced
    assert r["resub"] in ("TypeError", "ValueError") and r["got"] == ["h1"], r
    # unsupervised: QoS -1, and a PUBLISH with a Subscription Identifier [MQTT-3.3.4-6]
    assert r["plain"] == ["ValueError", "ValueError"], r
    # a CONNECT over tx_size: ValueError; supervised, one attempt, then stopped
    assert r["big"].startswith("CONNECT of ") and "exceeds tx_size 2048" in r["big"], r
    assert r["big_sup"] == [3, 1, "ValueError"], r
    # supervised and down: a payload over tx_size is refused at the call, not queued
    # to be dropped; one that fits is queued
    assert r["down"] == ["MQTTError", "MQTTError", "accepted"] and r["queued"] == 1, r


@pytest.mark.parametrize("where", ["state", "connect"])
def test_stop_returns_after_ctrl_c_in_the_supervisors_task(broker, where):
    # MicroPython stops the loop where Ctrl-C lands, and the task it lands in never
    # completes: stop() awaited the Supervisor's task (dead, or waiting in wait_for()
    # on the dead task that opens the socket), and hung for ever (a node's goodbye)
    out, err, end = interrupted("ctrl_c_stop.py", broker.port, "ctrlc" + where, where,
                                settle_s=1.5, timeout=10)  # connect: past its 1 s timeout
    assert "interrupted" in out and end, (out, err)
    assert end["state"] == 3 and not end["connected"], end  # 3: STOPPED


def test_a_client_with_one_in_flight_slot_is_refused(rec):
    r = rec("max_inflight")
    assert r["one"] == ("a supervised client needs max_inflight >= 2: one in-flight slot "
                        "is kept for restoring subscriptions") and r["two"] == 0, r  # DOWN


def test_dropped_publishes_each_get_their_own_error(runtime):
    # one MQTTError for every drop: each raise added its frames to its traceback, for
    # good (the heap grew 24 B a drop on a 32-bit port, 12 KB in 500)
    r = run(runtime, "supervisor_drops.py").record(step="drops")
    assert r["error"] == "publish dropped: offline queue full (drop-oldest)", r
    assert r["code"] == 0x97 and r["frames"] <= 5, r
    if r["heap"][0] is not None:  # MicroPython: 400 more drops, no more heap
        assert r["heap"][1] - r["heap"][0] <= 512, r


def test_a_birth_is_queued_though_a_queued_message_shares_its_payload(rec):
    r = rec("birth_shared_payload")
    assert r["topics"] == ["dev/status", "dev/reading"], r  # the birth first


def test_a_birth_is_queued_once_when_links_end_before_it_goes(runtime):
    from rogue_broker import RogueBroker

    rogue = RogueBroker("connack_close")
    try:
        r = run(runtime, "supervisor_flap.py", rogue.port, timeout=60).record(step="flapped")
    finally:
        rogue.close()
    assert r["connects"] >= 6 and r["most"] <= 1, r


def test_servers_that_redirect_to_each_other_after_connack_are_backed_off(runtime):
    from rogue_broker import RogueBroker

    a, b = RogueBroker("redirect"), RogueBroker("redirect")
    a.ref, b.ref = "127.0.0.1:%d" % b.port, "127.0.0.1:%d" % a.port
    try:
        r = run(runtime, "supervisor_redirect_loop.py", a.port, 3, timeout=60).record(
            step="looped")
    finally:
        a.close()
        b.close()
    # 4 links (3 redirects followed), then a jittered wait of up to 400 ms: about 64
    # in 3 s (thousands before); every link lost to 0x9C (156)
    assert 4 <= r["connects"] <= 200 and r["lost"] == {"156": r["connects"]}, r


@pytest.mark.parametrize("backoff_ms", [100, 4000])
def test_queued_publishes_that_expire_while_down_free_their_callers(runtime, backoff_ms):
    # Their waiter slots used to stay taken until the link was back: a caller still
    # awaiting heard nothing, and once the slots were all held a publish could not
    # even be queued (a Requester timing out through an outage took them all).
    from broker import Broker, free_port

    port = free_port()
    proc = spawn(runtime, "supervisor_expiry.py", port, backoff_ms)
    b = None
    try:
        for line in proc.stdout:
            if line.strip() == "up-now":
                b = Broker(tempfile.mkdtemp(), port=port)
                b.start()
                break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if b is not None:
            b.stop()
    r = [x for x in parse_records(out) if x.get("step") == "expiry"]
    assert r, (out, err)
    r = r[0]
    assert r["held"] == 3, r  # max_inflight 4: 3 waiter slots for publishes
    gone = "message expired in the offline queue"
    if backoff_ms == 100:  # the Supervisor's wait between tries tells it
        assert r["heard"] == [gone], r
    else:  # no wait ended: the next publish's call does
        assert r["heard"] == [] and r["heard_later"] == [gone], r
    assert r["queued_new"] == 1, r
    assert r["expired"] == 3 and r["left"] == 0, r  # dropped at their turn, counted
