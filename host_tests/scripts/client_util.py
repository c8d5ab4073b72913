# Helpers shared by the client_*.py integration scripts (both runtimes).
import asyncio
import json
import sys


def args():
    """(port, tag) from argv: the broker port and a unique name for topics/ids."""
    return int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "t")


def emit(**rec):
    print(json.dumps(rec))


def text(b):
    return None if b is None else bytes(b).decode()


def msg_record(m):
    """A JSON-friendly view of a received Message (payload and binary data as str)."""
    return {
        "topic": m.topic, "payload": text(m.payload), "qos": m.qos,
        "retain": bool(m.retain), "dup": bool(m.dup),
        "user_properties": [list(kv) for kv in m.user_properties],
        "content_type": m.content_type, "correlation_data": text(m.correlation_data),
        "response_topic": m.response_topic,
        "payload_format_indicator": m.payload_format_indicator,
        "message_expiry_interval": m.message_expiry_interval,
        "subscription_identifiers": m.subscription_identifiers,
    }


class Inbox:
    """A handler that keeps copies of messages and lets a task wait for N of them."""

    def __init__(self):
        self.items = []
        self.ev = asyncio.Event()

    def __call__(self, m):
        self.items.append(msg_record(m))
        self.ev.set()

    async def wait(self, n, timeout=5):
        async def _w():
            while len(self.items) < n:
                self.ev.clear()
                await self.ev.wait()
        await asyncio.wait_for(_w(), timeout)
        return self.items


def main(coro):
    asyncio.run(coro)


def failing(real, arm, when=None):
    """`real` wrapped for MemoryError injection: while arm[0] > 0 a call that `when(*args)`
    accepts (every call without `when`) counts it down and raises MemoryError("injected")
    instead, closing a coroutine it was given (heap_*.py)."""
    def call(*a):
        if arm[0] and (when is None or when(*a)):
            arm[0] -= 1
            for x in a:
                if hasattr(x, "send") and hasattr(x, "close"):
                    x.close()
            raise MemoryError("injected")
        return real(*a)
    return call
