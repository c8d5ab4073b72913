# TLS against a Mosquitto with one listener per certificate case (both runtimes).
#   tls_client.py <config.json>   config: {"ports": {name: port}, "rsa": dir, "ec": dir,
#                                          "plain": port, "blackhole": port}
# One record per case: {"case", "ok", "error", "type"}; stalls: the longest gap a
# ticker task saw during a verified connect (the TLS handshake's event-loop stall).
import asyncio
import json
import sys

from client_util import emit, main
from mqtt5 import Client
from mqtt5._compat import monotonic_ms, ticks_diff

with open(sys.argv[1]) as f:
    CFG = json.load(f)
P = CFG["ports"]
RSA, EC = CFG["rsa"] + "/", CFG["ec"] + "/"


def rd(path):
    with open(path, "rb") as f:
        return f.read()


def url(name, host="127.0.0.1", scheme="mqtts"):
    return "%s://%s:%d" % (scheme, host, P[name] if isinstance(name, str) else name)


class Ticker:
    """Longest gap between turns of a task that only yields (ms)."""

    def __init__(self):
        self.worst = 0
        self.run = True

    async def loop(self):
        last = monotonic_ms()
        while self.run:
            await asyncio.sleep(0)
            t = monotonic_ms()
            if ticks_diff(t, last) > self.worst:
                self.worst = ticks_diff(t, last)
            last = t


async def case(name, u, tls, timeout_ms=5000, roundtrip=False):
    tick = Ticker()
    task = asyncio.create_task(tick.loop())
    t0 = monotonic_ms()
    rec = {"case": name, "ok": False, "error": None, "type": None}
    c = None
    try:
        c = Client("tls-" + name, tls=tls, connect_timeout_ms=timeout_ms)
        await c.connect(u)
        rec["ok"] = True
        if roundtrip:
            got = []
            await c.subscribe("tls/" + name, qos=1, handler=lambda m: got.append(bytes(m.payload)))
            rec["rc"] = await c.publish("tls/" + name, b"over tls", qos=1)
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
            rec["got"] = [g.decode() for g in got]
        await c.disconnect()
    except Exception as e:
        rec["error"] = str(e)
        rec["type"] = type(e).__name__
    rec["ms"] = ticks_diff(monotonic_ms(), t0)
    tick.run = False
    await task
    rec["stall_ms"] = tick.worst
    emit(**rec)


async def run():
    await case("rsa_ok", url("rsa"), {"ca": RSA + "ca.pem"}, roundtrip=True)
    await case("ec_ok", url("ec"), {"ca": rd(EC + "ca.pem")}, roundtrip=True)
    await case("ca_der", url("rsa"), {"ca": rd(RSA + "ca.der")})
    await case("localhost", url("rsa", "localhost"), {"ca": RSA + "ca.pem"})
    await case("wrong_ca", url("rsa"), {"ca": RSA + "rogue_ca.pem"})
    await case("rogue_cert", url("rogue"), {"ca": RSA + "ca.pem"})
    await case("wrong_name", url("wrongname"), {"ca": RSA + "ca.pem"})
    await case("wrong_server_hostname", url("rsa"),
               {"ca": RSA + "ca.pem", "server_hostname": "wrong.example"})
    await case("expired", url("expired"), {"ca": RSA + "ca.pem"})
    await case("not_yet_valid", url("future"), {"ca": RSA + "ca.pem"})
    await case("mtls_ok", url("mtls"), {"ca": RSA + "ca.pem", "cert": RSA + "client.pem",
                                        "key": RSA + "client.key"}, roundtrip=True)
    await case("mtls_der_bytes", url("mtls"), {"ca": RSA + "ca.pem",
                                               "cert": rd(RSA + "client.der"),
                                               "key": rd(RSA + "client.key.der")})
    await case("mtls_ec", url("mtls_ec"), {"ca": EC + "ca.pem", "cert": EC + "client.pem",
                                           "key": rd(EC + "client.key")})
    await case("mtls_no_cert", url("mtls"), {"ca": RSA + "ca.pem"})
    await case("mtls_rogue_cert", url("mtls"), {"ca": RSA + "ca.pem",
                                                "cert": RSA + "rogue.pem",
                                                "key": RSA + "rogue.key"})
    await case("plain_to_tls_port", url("rsa", scheme="mqtt"), None, timeout_ms=3000)
    await case("tls_to_plain_port", url(CFG["plain"]), {"ca": RSA + "ca.pem"}, 3000)
    await case("insecure", url("rogue"), {"insecure": True})
    # insecure leaves the server unverified but still presents our certificate
    await case("mtls_insecure", url("mtls"), {"insecure": True, "cert": RSA + "client.pem",
                                              "key": RSA + "client.key"})
    await case("tls_opts_plain_url", url("rsa", scheme="mqtt"), {"ca": RSA + "ca.pem"})
    await case("blackhole", url(CFG["blackhole"]), {"ca": RSA + "ca.pem"}, timeout_ms=700)
    # PEM with text around its blocks [RFC 7468 2]: a byte-order mark, comments, a
    # PKCS#12 export's bag attributes; one file holding the key, then the certificate
    ca = rd(RSA + "ca.pem")
    await case("ca_text_around", url("rsa"), {"ca": b"\xef\xbb\xbf# our CA\nBag Attributes\n"
                                              b"    friendlyName: ca\n" + ca + b"# end\n"})
    both = RSA + "client_both.pem"
    with open(both, "wb") as f:
        f.write(rd(RSA + "client.key") + rd(RSA + "client.pem"))
    await case("mtls_one_file", url("mtls"), {"ca": ca, "cert": both, "key": both})
    for name in ("client_enc.key", "client_enc_legacy.key"):  # refused before any prompt
        await case("key_" + name, url("mtls"), {"ca": ca, "cert": RSA + "client.pem",
                                                "key": RSA + name})
    # PEM text given as a str (open(f).read()): the file's text, not a path; a str that
    # is neither never appears in the error (it held the whole key before)
    key_text = rd(RSA + "client.key").decode()
    await case("mtls_pem_text", url("mtls"), {"ca": rd(RSA + "ca.pem").decode(),
                                              "cert": rd(RSA + "client.pem").decode(),
                                              "key": key_text}, roundtrip=True)
    body = "".join(key_text.splitlines()[1:-1])  # the key's base64 without its lines
    await case("key_base64_str", url("mtls"), {"ca": ca, "cert": RSA + "client.pem",
                                               "key": body})
    await case("key_pem_text_bad", url("mtls"), {"ca": ca, "cert": RSA + "client.pem",
                                                 "key": key_text[:200] + "\n-----END X-----\n"})
    emit(case="key_text", body=body[20:60])
    bad = RSA + "garbage.pem"
    with open(bad, "wb") as f:
        f.write(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    await case("ca_bad_file", url("rsa"), {"ca": bad})  # a file may be fixed: TLSError
    await case("ca_bad_bytes", url("rsa"), {"ca": rd(bad)})  # bytes cannot: ValueError
    empty = RSA + "empty.key"
    with open(empty, "wb") as f:
        pass
    await case("key_empty", url("mtls"), {"ca": ca, "cert": RSA + "client.pem", "key": empty})
    garbage = RSA + "garbage.key"  # neither PEM nor DER, and DER cut short
    for name, data in (("key_garbage", b"garbage key file"), ("key_cut", b"0\x03\x02P\x00\x00")):
        with open(garbage, "wb") as f:
            f.write(data)
        await case(name, url("mtls"), {"ca": ca, "cert": RSA + "client.pem", "key": garbage})
    # refused handshakes close their sockets: on MicroPython each left its TCP socket
    # open under the TLS one (a descriptor, on a board an lwIP connection)
    import os

    def fds():
        try:
            return len(os.listdir("/proc/self/fd"))
        except OSError:
            return None

    before = fds()
    for _ in range(10):
        await case("expired_again", url("expired"), {"ca": RSA + "ca.pem"})
    emit(case="refusals_fds", before=before, after=fds())
    await case("midclose", url(CFG["midclose"]), {"ca": RSA + "ca.pem"}, timeout_ms=3000)
    before = fds()
    types = []
    for _ in range(5):
        c = Client("tls-silent", tls={"ca": RSA + "ca.pem"}, connect_timeout_ms=300)
        try:
            await c.connect(url(CFG["silent"]))
            types.append("connected")
        except Exception as e:
            types.append(type(e).__name__)
    for _ in range(50):  # up to 5 s for the sockets to close
        if fds() <= before:
            break
        await asyncio.sleep(0.1)
    emit(case="silent_fds", types=types, before=before, after=fds())
    # DER whose bytes hold "-----BEGIN " (say, in a subject) not at a line start is DER
    from mqtt5.tls import der_blocks

    odd = b"\x30\x0e\x0c\x0c-----BEGIN X"
    emit(case="der_blocks", odd=der_blocks(odd) == [(None, odd)],
         crlf=[b[0] for b in der_blocks(ca.replace(b"\n", b"\r\n"))] == ["CERTIFICATE"])
    for bad in ({"ca": 5}, {"cafile": "x"}, {"cert": RSA + "client.pem"}, "ca.pem",
                {"insecure": True, "ca": RSA + "ca.pem"}, {"insecure": 1}):
        try:
            Client("x", tls=bad)
            emit(case="bad_option", option=repr(bad), error=None)
        except (TypeError, ValueError) as e:
            emit(case="bad_option", option=repr(bad), error=type(e).__name__ + ": " + str(e))


main(run())
