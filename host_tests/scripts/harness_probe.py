# Reports which runtime runs it and where the library was loaded from, so the
# harness can prove that mpy=True really runs mpy-cross output.
import json
import sys

import mqtt5._compat as compat

print(json.dumps({
    "implementation": sys.implementation.name,
    "module_file": compat.__file__,
    "const": compat.const(7),
}))
