"""mqtt5.requester and mqtt5.responder without a broker, both runtimes: response
topic from Response Information / client id (spec 4.10), bounded pending requests,
late replies dropped, the Responder's memory of answered correlation ids."""

from runtimes import run


def test_requester_responder_units(runtime):
    res = run(runtime, "v5_request_unit.py")
    rec = res.records[0]
    assert rec["topics"] == ["reply/dev1", "reply/auto-7", "resp/dev1/reply", "r/abc/reply"]
    assert rec["no_id"] == "MQTTError"
    assert rec["subs"] == ["reply/dev1"]                  # subscribed once
    assert rec["published_while_one_pending"] == 1        # max_pending=1: the 2nd waited
    assert rec["replies"] == ["r1", "r2"] and rec["reply_is_copy"] is True
    assert rec["cids"] == [8, True, True]                 # same prefix, new counter
    assert rec["pub"] == ["svc/a", 1, "reply/dev1"]
    assert rec["expiry"] == [2, 1, 3, 60, None]  # gone at the broker when the caller gives up
    assert rec["slot_wait_timeout"] == ["short", 1]       # ended before the 5 s one
    assert rec["queued"] == [60, 0, True]                 # 60 queued for 1 slot: none timed out
    assert rec["bad_requester"] == ["ValueError", "ValueError"]
    assert rec["timeout"] == "timeout"
    assert rec["dropped"] == 2 and rec["dropped_no_cd"] == 3
    assert rec["after_stop"] == []
    r = rec["responder"]
    # "a"/c1 twice: run once, answered twice; no Response Topic: ignored; None: no
    # answer; remember=2: c1 forgotten after c4, c5, so run again; c1 on svc/y: run;
    # a wildcard or empty Response Topic, or one with a control character (its answer
    # could not go, spec 1.5.4): ignored
    assert r["runs"] == ["a", "quiet", "d", "e", "a", "y"]
    assert r["pubs"] == [["back/1", "ok:a", "c1"], ["back/1", "ok:a", "c1"],
                         ["back/1", "ok:d", "c4"], ["back/1", "ok:e", "c5"],
                         ["back/1", "ok:a", "c1"], ["back/1", "ok:y", "c1"]]
    assert r["repeated"] == 1 and r["ignored"] == 4 and r["answered"] == 6
    assert r["retain_handling"] == 2  # a retained request is never delivered
    # c6 with "f", then "g": two requests, each run once and answered twice
    assert rec["reused_cd"] == [["f", "g"], 2, ["ok:f", "ok:g", "ok:g", "ok:f"]], rec
    # a failure not kept: the retry ran again; its success is kept and replayed
    assert rec["keep"] == [2, ["fail", "ok", "ok"], 1], rec["keep"]
    # raised, returned an int twice (the same id: not replayed, run again): 3 errors
    assert rec["errors"] == [3, 0, 0, 0, 1], rec["errors"]  # the answer without heap: failed
    assert "mqtt5: handler error" in res.stdout and "handler bug" in res.stdout + res.stderr
    # two waited and ran in order after the first two; two counted in busy
    assert rec["waiting"] == [2, 2, 4, ["ok:0", "ok:1", "ok:2", "ok:3"]], rec["waiting"]
    # no heap for the next one's task when a place frees: it is counted, the one after
    # it runs (it was left waiting, with none running to start it)
    assert rec["handover"] == [1, 2, 0, 0, ["ok:0", "ok:2"]], rec["handover"]
    b = rec["busy"]
    # max_busy=2: two requests taken, the next three counted in busy and not run;
    # once those two are answered a new one is taken again
    assert b["took"] == [True, True, False, False] and b["late"] and b["busy"] == 3
    assert b["answered"] == 3 and b["pubs"] == ["ok:0", "ok:1", "ok:6"]
    assert b["kw"] == {"content_type": "application/json", "payload_format_indicator": 1}
    assert b["bad"] == ["ValueError"]


def test_requester_over_supervisor_survives_reconnect(runtime, broker):
    from fault_proxy import FaultProxy
    from runtimes import Result, spawn

    px = FaultProxy(broker.host, broker.port)
    proc = spawn(runtime, "v5_request_sup.py", px.port, runtime, broker.port)
    try:
        line = proc.stdout.readline().strip()
        assert line == "cut-me", line + proc.stderr.read()
        assert px.cut() >= 1
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        px.close()
    rec = Result([], 0, out, err).record(step="sup")
    assert rec["one"] == "echo:one" and rec["two"] == "echo:two", (rec, err)
    assert rec["lost"] is True and rec["topic"] == "reply/sup-req-" + runtime
