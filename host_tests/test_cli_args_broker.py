"""fieldnode's broker URL, topic parts and TLS options, checked before connecting (exit
2): the URL's form, a password in it not echoed, a path, query or fragment refused, a
trailing slash taken, device ids, command names and prefixes that cannot go in a topic,
TLS options only with mqtts://. No broker needed but for the trailing slash."""

import pytest

from fieldnode_cli import fieldnode


URL_FORM = "broker URL must look like mqtt://host[:port] or mqtts://host[:port] (port 1-65535)"
PERCENT = ("broker URL: a / ? or # in the user name or password must be percent-encoded "
           "(%2F %3F %23), got ")


@pytest.mark.parametrize("argv, message", [
    (["cmd", "unix-node", "ping", "--url", "mqtt://127.0.0.1:abc"],
     URL_FORM + ", got 'mqtt://127.0.0.1:abc'"),
    (["monitor", "--url", "mqtt://127.0.0.1:70000"], URL_FORM + ", got 'mqtt://127.0.0.1:70000'"),
    (["monitor", "--url", "mqtt://127.0.0.1:0"], URL_FORM + ", got 'mqtt://127.0.0.1:0'"),
    (["monitor", "--url", "http://example.com"], URL_FORM + ", got 'http://example.com'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://:1883"], URL_FORM + ", got 'mqtt://:1883'"),
    (["cmd", "unix-node", "a/#"], "command name: 'a/#' must not contain '#'"),
    (["cmd", "unix-node", "get/state"], "command name: 'get/state' must not contain '/'"),
    (["cmd", "x+", "ping"], "device id: 'x+' must not contain '+'"),
    (["cmd", "", "ping"], "device id must not be empty"),
    (["cmd", "node-1", ""], "command name must not be empty"),
    (["cmd", "node-1", "ping", "--prefix", "site/+"], "--prefix: 'site/+' must not contain '+'"),
    (["cmd", "node-1", "ping", "--prefix", "$SYS"],  # waited out its timeout before
     "--prefix: '$SYS' must not start with '$' (topics starting with $ are the broker's)"),
    (["cmd", "node-1", "ping", "--timeout", "inf"], "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["monitor", "--device", "a/b"], "--device: 'a/b' must not contain '/'"),
    (["monitor", "--device", "#"], "--device: '#' must not contain '#'"),
    (["monitor", "--prefix", ""], "--prefix must not be empty"),
    (["monitor", "--duration", "nan"], "--duration must be positive and finite"),
    # a password in a bad URL is not echoed, also one holding a / or an @
    (["monitor", "--url", "mqtt://me:se/cr@t@127.0.0.1:0"], PERCENT +
     "'mqtt://me:***@127.0.0.1:0'"),
    (["monitor", "--url", "mqtt://me:se@cr@127.0.0.1:0"], URL_FORM + ", got "
     "'mqtt://me:***@127.0.0.1:0'"),
    # bytes that are not UTF-8 (a traceback when the request was encoded)
    (["cmd", "node-1", "set_config", "device_id=\udcff"], "arguments must be UTF-8 text"),
    # were tracebacks (urllib's ValueError, the idna codec, paho's topic checks, the
    # struct of a Message Expiry Interval, socket.settimeout), some after connecting
    (["monitor", "--url", "mqtt://[::1"], URL_FORM + ", got 'mqtt://[::1'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://[zz]:1"], URL_FORM + ", got 'mqtt://[zz]:1'"),
    (["monitor", "--url", "mqtt://a\udcffb:1883"], URL_FORM + ", got 'mqtt://a\\udcffb:1883'"),
    (["monitor", "--url", "mqtt://%s:1883" % ("h" * 64)],
     URL_FORM + ", got 'mqtt://%s:1883'" % ("h" * 64)),
    (["cmd", "a\udcffb", "ping"], "device id must be UTF-8 text"),
    (["cmd", "node-1", "p\udcff"], "command name must be UTF-8 text"),
    (["monitor", "--prefix", "x\udcff"], "--prefix must be UTF-8 text"),
    (["monitor", "--device", "d" * 70000], "--device must be at most 64 characters, got 70000"),
    (["cmd", "d" * 65, "ping"], "device id must be at most 64 characters, got 65"),
    (["cmd", "node-1", "ping", "--timeout", "5000000000"],
     "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["cmd", "node-1", "ping", "--timeout", "1e12"],
     "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["monitor", "--duration", "inf"], "--duration must be positive and finite"),
    # a raw / ? or # in a password ends the host part: the message showed a URL that
    # looked right (and mqtt://user/x@h connected to the host "user")
    (["monitor", "--url", "mqtt://u:pa/ss@127.0.0.1:18832"], PERCENT + "'mqtt://u:***@127.0.0.1:18832'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://u:p?w@h"], PERCENT + "'mqtt://u:***@h'"),
    (["monitor", "--url", "mqtt://u:p#w@h:1"], PERCENT + "'mqtt://u:***@h:1'"),
    (["monitor", "--url", "mqtt://user/x@h"], PERCENT + "'mqtt://user/x@h'"),
    # no :// (or a mistyped one): the password was echoed whole
    (["monitor", "--url", "user:s3cret@broker.local"], URL_FORM + ", got 'user:***@broker.local'"),
    (["monitor", "--url", "mqtt:/user:s3cret@h"], URL_FORM + ", got 'mqtt:/user:***@h'"),
    # a host no name can be (a space): refused here, as the firmware's config refuses it,
    # not looked up
    (["monitor", "--url", "mqtt://a b"], URL_FORM + ", got 'mqtt://a b'"),
    (["monitor", "--url", "mqtt://a\tb:1883"], URL_FORM + ", got 'mqtt://a\\tb:1883'"),
])
def test_broker_url_and_topic_parts_are_checked_before_connecting(argv, message):
    """Refused before any connection is tried: these raised a traceback from urllib or
    paho, waited for ever, or watched a topic no device publishes."""
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: %s\n" % (argv[0], message)


def test_a_bad_broker_url_from_the_environment_says_where_it_came_from():
    r = fieldnode("cmd", "node-1", "ping", env={"FIELDNODE_BROKER": "garbage"})
    assert r.returncode == 2
    assert r.stderr == "fieldnode cmd: %s, got 'garbage' (from $FIELDNODE_BROKER)\n" % URL_FORM


@pytest.mark.parametrize("argv, message", [
    (["monitor", "--url", "mqtt://127.0.0.1:1883", "--cafile", "ca.pem"],
     "--cafile is a TLS option: the URL must be mqtts://, got 'mqtt://127.0.0.1:1883'"),
    (["monitor", "--url", "mqtt://h", "--cert", "c.pem", "--key", "k.pem", "--insecure"],
     "--cert, --key, --insecure are TLS options: the URL must be mqtts://, got 'mqtt://h'"),
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--cert", "c.pem"],
     "--cert needs --key (the client certificate's private key)"),
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--key", "k.pem"],
     "--key needs --cert (the client certificate)"),
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--cafile", "/nonexistent/ca.pem"],
     "--cafile /nonexistent/ca.pem: no such file"),
    (["monitor", "--url", "mqtts://h", "--cafile", "/"], "--cafile /: a directory, not a file"),
    (["monitor", "--url", "mqtts://h", "--cert", "/nonexistent/c.pem", "--key", "/nonexistent/k"],
     "--cert /nonexistent/c.pem: no such file"),
    # the other arguments are checked first
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--cert", "c.pem", "--timeout", "0"],
     "--timeout must be above 0 and at most 604800 (a week), in seconds"),
])
def test_tls_options_are_checked_before_connecting(argv, message):
    """TLS options (mosquitto_sub's names) only with mqtts://, --cert with --key, files that
    can be read: else exit 2 before any connection (the host `h` is never looked up)."""
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: %s\n" % (argv[0], message)


@pytest.mark.parametrize("name", ["monitor", "cmd"])
def test_tls_options_in_help(name):
    r = fieldnode(name, "--help")
    assert r.returncode == 0
    for option in ("--cafile FILE", "--cert FILE", "--key FILE", "--insecure"):
        assert "\n  %s " % option in r.stdout
    assert "NOT verified" in r.stdout
    r = fieldnode(name, "--cafile")
    assert r.returncode == 2 and "argument --cafile: expected one argument" in r.stderr


NO_PLACE = "broker URL: %r has no place in mqtt[s]://host[:port] (MQTT has no path, query or " \
           "fragment), got %r"


@pytest.mark.parametrize("argv, message", [
    (["monitor", "--url", "mqtt://h:1883/ws"], NO_PLACE % ("/ws", "mqtt://h:1883/ws")),
    (["cmd", "node-1", "ping", "--url", "mqtts://h/a/b"], NO_PLACE % ("/a/b", "mqtts://h/a/b")),
    (["monitor", "--url", "mqtt://h:1883?x=1"], NO_PLACE % ("?x=1", "mqtt://h:1883?x=1")),
    (["monitor", "--url", "mqtt://h#top"], NO_PLACE % ("#top", "mqtt://h#top")),
    (["monitor", "--url", "mqtt://h//"], NO_PLACE % ("//", "mqtt://h//")),
    # with a user name and password (taken, percent-encoded): the password not echoed
    (["cmd", "node-1", "ping", "--url", "mqtt://me:p%2Fw@h:1883/ws"],
     NO_PLACE % ("/ws", "mqtt://me:***@h:1883/ws")),
])
def test_a_broker_url_with_a_path_query_or_fragment_is_refused(argv, message):
    """mqtt://h:1883/ws was taken and the /ws dropped without a word (the node's config
    refuses it: firmware/config.py)."""
    r = fieldnode(*argv)
    assert (r.returncode, r.stderr) == (2, "fieldnode %s: %s\n" % (argv[0], message))


def test_a_broker_url_with_a_trailing_slash_is_taken(broker):
    r = fieldnode("monitor", "--url", broker.url + "/", "--duration", 0.3)
    assert r.returncode == 0, r.stderr
    user = broker.url.replace("//", "//me:p%2Fw@") + "/"    # (anonymous: the user is ignored)
    r = fieldnode("cmd", "nobody", "ping", "--url", user, "--timeout", 0.5)
    assert r.returncode == 1 and "no answer from nobody" in r.stderr, r.stderr
