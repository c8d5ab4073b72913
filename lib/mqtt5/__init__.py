"""mqtt5: a memory-frugal MQTT v5 client for MicroPython and CPython asyncio.

    from mqtt5 import Client
    client = Client("node-1", keepalive=30)
    await client.connect("mqtt://broker:1883")

Names are imported lazily on first use, so `import mqtt5` costs almost
nothing and unused parts are never loaded: Client, Message, Will, MQTTError,
ProtocolError, Router, matches, validate_topic, validate_filter, Supervisor,
OfflineQueue, Requester, Responder, TLSError.
"""

try:  # (nothing bound here on MicroPython)
    __import__("micropython")
except ImportError:  # CPython: const() for every module of the package (_compat.py)
    __import__("mqtt5._compat")

# name=module pairs, a string rather than a dict: nothing built in RAM at import
_WHERE = ("Client=client Message=message Will=outmsg MQTTError=errors "
          "ProtocolError=errors Router=router matches=router validate_topic=wire "
          "validate_filter=router Supervisor=supervisor OfflineQueue=offline "
          "Requester=requester Responder=responder TLSError=tls")


def __getattr__(name):
    for item in _WHERE.split():
        k, mod = item.split("=")
        if k == name:
            v = getattr(__import__("mqtt5." + mod, None, None, (name,)), name)
            globals()[name] = v
            return v
    raise AttributeError(name)
