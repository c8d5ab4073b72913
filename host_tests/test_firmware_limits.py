"""The node against brokers with restrictive limits, under both runtimes: one that
keeps no retained messages refuses the node's retained Will (CONNACK 0x9A), which
retrying cannot fix; one with a small Maximum Packet Size cannot take a long answer."""

import json

from firmware_node import FAST, NodeProc, ask, watch


def test_a_broker_without_retained_messages_is_a_fatal_refusal(broker_factory, runtime,
                                                               tmp_path):
    # it was retried with backoff for ever, 6 refusals in 12 s, and said nothing more
    b = broker_factory(extra_config="retain_available false")
    node = NodeProc(runtime, b, tmp_path, dict(FAST, fatal_backoff_s=3), "noretain-" + runtime)
    try:
        node.wait_log("link refused (CONNACK 0x9A Retain not supported): fatal, next try "
                      "in 3 s")
        node.wait_log("link connecting", 2, timeout=10)
        # (the second attempt's refusal may be logged already: it follows at once)
        assert node.count("link refused") <= 2 and node.proc.poll() is None, node.output
    finally:
        node.kill()


def test_an_answer_over_the_brokers_maximum_packet_size_is_rc_5(broker_factory, runtime,
                                                                tmp_path):
    # the answer went out, the client refused it (0x95), the requester got nothing and
    # the node counted the command as answered
    b = broker_factory(extra_config="max_packet_size 300")
    device = "mps-" + runtime
    peer = watch(b, device)
    node = NodeProc(runtime, b, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        ans = json.loads(ask(peer, device, "get_config", b"1").payload)
        assert ans["rc"] == 5 and "answer of " in ans["msg"], ans
        ans = json.loads(ask(peer, device, "ping", b"2").payload)
        assert ans["rc"] == 0 and ans["msg"] == "pong", ans
        assert "handler error" not in node.output and node.proc.poll() is None
    finally:
        node.kill()
        peer.stop()


def test_answers_are_sized_to_the_offline_queue_and_the_transmit_buffer(broker, runtime,
                                                                        tmp_path):
    # An answer goes through the supervisor's offline queue (queue_bytes, 256 at the
    # least) and the client's 2048-byte transmit buffer, with its Response Topic and
    # Correlation Data. Over either it was refused after the command ran: no answer,
    # and the log blamed the broker. It is rc 5 now, naming the room there was.
    device = "room-" + runtime
    peer = watch(broker, device)
    long_topic = "reply/long/" + "r" * 1300  # get_config's answer: a PUBLISH over 2048 B
    wide_topic = "reply/long/" + "\u00e9" * 700  # 711 characters, 1411 bytes
    peer.subscribe("reply/long/#", qos=1)
    for queue_bytes in (256, 8192):
        node = NodeProc(runtime, broker, tmp_path, dict(FAST, queue_bytes=queue_bytes), device)
        try:
            node.wait_log("online")
            if queue_bytes == 256:
                ans = json.loads(ask(peer, device, "get_config", b"1").payload)
                over = 256 - len("reply/" + device)
                assert ans["rc"] == 5 and ans["msg"].endswith(" bytes is over %d" % over), ans
                assert json.loads(ask(peer, device, "ping", b"2").payload)["rc"] == 0
                # a QoS 0 answer does not go through the queue: not limited by it
                n = len(peer.on("reply/" + device))
                peer.publish("fieldnode/v1/%s/cmd/get_config" % device, b"", qos=0,
                             correlation_data=b"q0", response_topic="reply/" + device)
                ans = json.loads(peer.wait_messages("reply/" + device, n + 1)[-1].payload)
                assert ans["rc"] == 0, ans
            else:
                # the transmit buffer: 2048 bytes, 32 kept free, 48 of headers; the
                # Response Topic counted in bytes
                for topic in (long_topic, wide_topic):
                    peer.publish("fieldnode/v1/%s/cmd/get_config" % device, b"", qos=1,
                                 correlation_data=b"3", response_topic=topic)
                    ans = json.loads(peer.wait_messages(topic, 1)[-1].payload)
                    room = 2048 - 32 - 48 - len(topic.encode()) - 1
                    assert ans["rc"] == 5 and ans["msg"].endswith(" bytes is over %d" % room), ans
            assert "answers not sent" not in node.output.replace("0 answers not sent", "")
            assert node.proc.poll() is None and "Traceback" not in node.output
        finally:
            node.kill()
    peer.stop()


def test_a_command_that_ran_is_not_answered_rc_5_for_want_of_room(broker, runtime, tmp_path):
    # Correlation Data that leaves little room for the answer. set_config saved and
    # applied its keys, then answered rc 5 "answer ... is over" (failed, which it was
    # not), and a reboot ran after an rc 5: the room is now known before the command
    # runs. A command that changes something says "done" in fewer bytes when its
    # answer is over the room; with less than 64 bytes nothing runs: rc 5.
    device = "tight-" + runtime
    peer = watch(broker, device)
    node = NodeProc(runtime, broker, tmp_path, FAST, device)
    reply = "reply/" + device
    free = 2048 - 32 - 48 - len(reply)  # the transmit buffer's room less the envelope
    try:
        node.wait_log("online")
        ans = json.loads(ask(peer, device, "set_config", b"c" * (free - 80),
                             b'{"keepalive": 50, "queue_count": 7}').payload)
        assert ans["rc"] == 0 and ans["msg"].startswith("done; its answer of "), ans
        assert ans["msg"].endswith(" bytes is over 80"), ans
        cfg = json.loads(ask(peer, device, "get_config", b"2").payload)["config"]
        assert (cfg["keepalive"], cfg["queue_count"]) == (50, 7), cfg
        ans = json.loads(ask(peer, device, "reboot", b"r" * (free - 60)).payload)
        assert ans == {"rc": 5, "msg": "no room for an answer: 60 bytes"}, ans
        # room for fewer bytes than that answer itself: it goes as it is (it was said
        # as "answer of 51 bytes is over 50", as if the command had run)
        ans = json.loads(ask(peer, device, "reboot", b"s" * (free - 50)).payload)
        assert ans == {"rc": 5, "msg": "no room for an answer: 50 bytes"}, ans
        # a read-only command whose answer is over the room is still rc 5
        ans = json.loads(ask(peer, device, "get_config", b"g" * (free - 200)).payload)
        assert ans["rc"] == 5 and ans["msg"].endswith(" bytes is over 200"), ans
        assert json.loads(ask(peer, device, "ping", b"3").payload)["rc"] == 0
        assert "rebooting" not in node.output and node.proc.poll() is None
    finally:
        node.kill()
        peer.stop()


def test_a_payload_that_is_not_utf8_is_rc_1_on_every_runtime(broker, runtime, tmp_path):
    # MicroPython's decode() takes overlong forms, surrogates and code points past
    # U+10FFFF, which CPython refuses: the node answered rc 3 "unknown key '/'" there
    # for a key the sender never sent. The client's own UTF-8 check comes first now.
    device = "utf8-" + runtime
    peer = watch(broker, device)
    node = NodeProc(runtime, broker, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        for i, bad in enumerate((b'{"\xc0\xaf": 1}', b'{"\xed\xa0\x80": 1}',
                                 b'{"\xf4\x90\x80\x80": 1}', b'{"topic_prefix": "a\xc0\xafb"}')):
            ans = json.loads(ask(peer, device, "set_config", b"u%d" % i, bad).payload)
            assert ans == {"rc": 1, "msg": "payload is not UTF-8 text"}, (bad, ans)
        ans = json.loads(ask(peer, device, "set_config", b"n", b'{"a\x00": 1}').payload)
        assert ans["rc"] == 1 and ans["msg"].startswith("payload is not JSON"), ans
    finally:
        node.kill()
        peer.stop()


def _oversized_request(port, topic, i):
    # A raw v5 client: CONNECT, then a 3 KB QoS 1 request (over the node's Maximum
    # Packet Size); returns what the broker answered before it closed (b"": nothing)
    import socket
    import struct

    def varint(n):
        out = b""
        while True:
            out += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out

    def packet(first, body):
        return bytes([first]) + varint(len(body)) + body

    def text(s):
        return struct.pack(">H", len(s)) + s

    cid = b"big-%d" % i
    connect = packet(0x10, text(b"MQTT") + b"\x05\x02\x00\x3c\x00" + text(cid))
    props = b"\x08" + text(b"reply/big") + b"\x09" + text(cid)
    body = text(topic.encode()) + b"\x00\x01" + varint(len(props)) + props + b"x" * 3000
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(connect)
        s.recv(64)  # CONNACK
        try:
            s.sendall(packet(0x32, body))
            got = b""
            while True:
                d = s.recv(64)
                if not d:
                    return got
                got += d
        except OSError:
            return b"reset"


def test_a_broker_max_packet_size_keeps_oversized_requests_from_stalling_commands(
        broker_factory, runtime, tmp_path):
    # docs/commands.md: Mosquitto 2.0 counts each oversized QoS 1 request it discards
    # for the node against the node's Receive Maximum, for good: after 16, no QoS 1
    # command reached the node on that link. With `max_packet_size 2048` the broker
    # refuses them from the publisher, and 20 of them leave the node's commands working
    b = broker_factory(extra_config="max_packet_size 2048")
    device = "bigreq-" + runtime
    peer = watch(b, device)
    node = NodeProc(runtime, b, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        for i in range(20):
            _oversized_request(b.port, "fieldnode/v1/%s/cmd/set_config" % device, i)
        ans = json.loads(ask(peer, device, "ping", b"after").payload)
        assert ans["rc"] == 0 and ans["msg"] == "pong", ans
        assert "<- cmd set_config" not in node.output and node.proc.poll() is None
    finally:
        node.kill()
        peer.stop()
