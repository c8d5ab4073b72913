import asyncio
import sys

from mqtt5 import Client, TLSError

URL = sys.argv[1] if len(sys.argv) > 1 else "mqtts://localhost:8883"
CERTS = sys.argv[2] if len(sys.argv) > 2 else "certs"


async def main():
    # the server must present a certificate signed by our CA, for the URL's host;
    # we prove who we are with our own certificate (mutual TLS)
    client = Client("node-44", keepalive=30,
                    tls={"ca": CERTS + "/ca.pem",
                         "cert": CERTS + "/client.pem", "key": CERTS + "/client.key"})
    try:
        await client.connect(URL)
    except TLSError as e:  # e.g. "TLS: server certificate refused: certificate has expired"
        print("refused:", e)
        return
    # not retained: a demo leaves nothing on your broker
    await client.publish("fieldnode/demo/tls", "hello over TLS", qos=1)
    print("published over TLS")
    await client.disconnect()


asyncio.run(main())
