# Imports every module named in argv and reports failures by name (the qemu run:
# nothing in lib/ or firmware/ may need a unix-only module to load).
import json
import sys

failed = {}
for name in sys.argv[1:]:
    try:
        __import__(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported by name
        failed[name] = "%s: %s" % (type(e).__name__, e)
print(json.dumps({"imported": len(sys.argv) - 1 - len(failed), "failed": failed}))
