# Enhanced authentication through the asyncio Client (spec 4.12): CONNECT with an
# Authentication Method, a server challenge answered by the authenticator, then a
# re-authentication on the link, and a QoS 1 publish after it.  Against the scripted
# server of test_client_auth.py.   client_auth.py PORT
from client_util import args, emit, main
from mqtt5 import Client


class Demo:
    def __init__(self):
        self.seen = []

    def start(self):
        return b"hello"

    def step(self, data):
        self.seen.append(bytes(data))
        return b"response"


async def run():
    port = args()[0]
    a = Demo()
    try:
        Client("x", auth_method="demo")  # one without the other
        lone = "accepted"
    except ValueError:
        lone = "ValueError"
    c = Client("auth-c", auth_method="demo", authenticator=a)
    await c.connect("mqtt://127.0.0.1:%d" % port)
    c.reauthenticate()
    rc = await c.publish("auth/t", b"after", qos=1)
    emit(step="done", lone=lone, challenges=[x.decode() for x in a.seen], rc=rc,
         connected=c.is_connected)
    await c.disconnect()


main(run())
