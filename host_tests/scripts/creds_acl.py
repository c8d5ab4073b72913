# Credentials and authorization against Mosquitto with a password file and an
# ACL (argv: port secret).  The secret must never be printed: the test scans
# everything this script writes for it.
import asyncio
import sys

from client_util import emit, main
from mqtt5 import Client, MQTTError, Supervisor

PORT, SECRET = int(sys.argv[1]), sys.argv[2]
URL = "mqtt://127.0.0.1:%d" % PORT


def wrong_types():
    out = []
    for kw in ({"username": 7}, {"username": b"node"}, {"password": 5},
               {"password": ["x"]}, {"password": 1.5}):
        try:
            Client("t", **kw)
            out.append(None)
        except TypeError as e:
            out.append(str(e))
    return out


async def run():
    emit(step="types", errors=wrong_types())
    # a str password is sent as UTF-8
    c = Client("creds-str", username="node", password=SECRET)
    await c.connect(URL)
    emit(step="str_password", connected=c.is_connected, tls_loaded="mqtt5.tls" in sys.modules)
    # authorization: what Mosquitto answers a v5 client the ACL refuses
    rec = {"step": "acl"}
    rec["allowed_rc"] = await c.publish("allowed/x", b"1", qos=1)
    for q in (0, 1, 2):
        try:
            rec["denied_pub_q%d" % q] = await c.publish("denied/x", b"1", qos=q)
        except MQTTError as e:
            rec["denied_pub_q%d" % q] = [getattr(e, "reason_code", None), str(e)]
    try:
        rec["denied_sub"] = await c.subscribe("denied/#", qos=1)
    except MQTTError as e:
        rec["denied_sub"] = [getattr(e, "reason_code", None), str(e)]
    rec["mixed_sub"] = await c.subscribe(["allowed/#", "denied/#", "readonly/#"], qos=1)
    try:
        await c.publish("readonly/x", b"1", qos=1)
    except MQTTError as e:
        rec["readonly_pub"] = [getattr(e, "reason_code", None), str(e)]
    rec["still_connected"] = c.is_connected
    rec["after_rc"] = await c.publish("allowed/y", b"2", qos=2)
    emit(**rec)
    await c.disconnect()
    # a wrong password: the refusal names the code, never the password
    wrong = SECRET + "-not"
    try:
        await Client("creds-wrong", username="node", password=wrong).connect(URL)
        emit(step="wrong", error=None)
    except MQTTError as e:
        emit(step="wrong", code=getattr(e, "reason_code", None), error=str(e),
             leaked=wrong in str(e) or wrong in repr(e))
    # a password callback, called at every (re)connect: the first token is stale
    calls = []

    def token():
        calls.append(1)
        return wrong.encode() if len(calls) == 1 else SECRET

    c = Client("creds-cb", username="node", password=token)
    sup = Supervisor(c, URL, base_ms=50, fatal_backoff_ms=100)
    sup.start()
    await sup.wait_up(10000)
    n_up = len(calls)
    await c.disconnect()  # the link ends: the supervisor reconnects with a new token
    while sup.stats.reconnects < 1:
        await asyncio.sleep(0.02)
    emit(step="callback", calls_first_up=n_up, calls=len(calls),
         failures=sup.stats.as_dict()["failures"], reconnects=sup.stats.reconnects,
         leaked=SECRET in repr(c) + repr(c.session) + repr(sup))
    await sup.stop()
    # a callback returning a wrong type fails the connect with TypeError
    try:
        await Client("creds-bad", username="node", password=lambda: 42).connect(URL)
        emit(step="bad_callback", error=None)
    except TypeError as e:
        emit(step="bad_callback", error=str(e))


main(run())
