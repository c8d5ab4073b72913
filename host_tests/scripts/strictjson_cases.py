# firmware/strictjson.check on this runtime over the cases in a JSON file (a list
# of hex strings): one record per case, {"i": index, "ok": accepted, "why": ...}.
#   strictjson_cases.py CASES.json
import binascii
import json
import sys

import strictjson

with open(sys.argv[1]) as f:
    cases = json.load(f)
for i in range(len(cases)):
    why = None
    try:
        strictjson.check(binascii.unhexlify(cases[i]))
    except ValueError as e:
        why = str(e)
    print(json.dumps({"i": i, "ok": why is None, "why": why}))
