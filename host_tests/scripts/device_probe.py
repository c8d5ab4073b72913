# Where the library comes from and what machine runs it: the device-class harness
# checks its argv, the frozen build proves its modules are the frozen ones. argv[1]
# (optional): a folder put on sys.path right after .frozen (a decoy mqtt5 there must
# lose to the frozen one); argv[2]: exit code to end with.
import json
import sys

if len(sys.argv) > 1 and sys.argv[1] != "-":
    sys.path.insert(sys.path.index(".frozen") + 1 if ".frozen" in sys.path else 0, sys.argv[1])

import mqtt5  # noqa: E402
import mqtt5.session  # noqa: E402

impl = sys.implementation
print(json.dumps({
    "argv": sys.argv[1:],
    "platform": sys.platform,
    "machine": getattr(impl, "_machine", None),
    "maxsize": sys.maxsize,
    "heap_below_2g": id(bytearray(1)) < 2 ** 31,  # as on a board: id() is a small int
    "decoy": hasattr(mqtt5, "DECOY"),
    "path": sys.path,
    "files": [getattr(m, "__file__", None) for m in (mqtt5, mqtt5.session)],
}))
if len(sys.argv) > 2:
    sys.exit(int(sys.argv[2]))
