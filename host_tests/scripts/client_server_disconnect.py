# A server DISCONNECT ends the connection with an error naming its reason code
# (Mosquitto rarely sends one, so a tiny in-script server plays the broker):
# CONNACK, then DISCONNECT 0x8B Server shutting down.
import asyncio

from client_util import args, emit, main
from mqtt5 import Client

CONNACK = b"\x20\x03\x00\x00\x00"
DISCONNECT = b"\xe0\x02\x8b\x00"


async def serve(reader, writer):
    await reader.read(256)  # CONNECT
    writer.write(CONNACK)
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.write(DISCONNECT)
    await writer.drain()
    writer.close()


async def run():
    port = args()[0]  # a free port chosen by the test
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    c = Client("srv-disc")
    await c.connect("mqtt://127.0.0.1:%d" % port)
    err = await c.wait_closed()
    emit(step="server_disconnect", code=getattr(err, "reason_code", None), error=str(err),
         connected=c.is_connected)
    server.close()


main(run())
