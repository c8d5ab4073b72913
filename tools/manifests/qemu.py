# ports/qemu (BOARD=MPS2_AN385, Cortex-M3) for the `micropython-qemu` test runtime:
# the port's own test modules, asyncio, the library, and every firmware module but
# main.py (it starts the node on import and needs a real board), so the run proves
# they compile and load on a microcontroller build without any unix-only API.
# (The manifest runs with this file's folder as the working directory.)
import os

require("unittest")
include("$(MPY_DIR)/extmod/asyncio")
# The qemu port builds without the C `_asyncio` (MICROPY_PY_ASYNCIO 0): its Python twin.
package("asyncio", ("task.py",), base_path="$(MPY_DIR)/extmod")
include("../../lib/manifest.py")
for _name in sorted(os.listdir("../../firmware")):
    if _name.endswith(".py") and _name != "main.py":
        module(_name, base_path="../../firmware")
