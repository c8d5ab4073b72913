"""Shared by the firmware_units_*.py scripts (unit checks of firmware/payload.py,
config.py, app.py and keeper.py on this runtime; no board, no broker): ok(), which
prints one JSON record per check and counts it in _n (each script ends with
{"done": _n[0]}); the fakes of the Supervisor an App is made with; and _app()."""

import json

import app
import config

_n = [0]


def ok(name, cond, detail=""):
    _n[0] += 1
    print(json.dumps({"check": name, "ok": bool(cond), "detail": str(detail)}))


class _Pub:
    def __init__(self):
        self.n = 0
        self.sent = []

    async def publish(self, topic, data, *args, **kw):  # (kw: topic_alias)
        self.n += 1
        if self.n == 1:
            raise MemoryError("memory allocation failed, allocating 248 bytes")
        self.sent.append(bytes(data))


class _Queue:  # (the Supervisor's offline queue: what event() reads of it)
    n = drops = 0


class _Sup:
    client = _Pub()
    queue = _Queue()
    state = app.UP


class _SupLost:
    client = _Pub()
    queue = _Queue()
    session_present = False


SENSORS = app.board.SENSORS  # temperature (index 1 when sorted), humidity (0)
T, H = sorted(SENSORS).index("temperature"), sorted(SENSORS).index("humidity")


def _app(cfg=None):
    return app.App(_SupLost(), config.validate(cfg or {}, SENSORS), "defaults", "unit")

