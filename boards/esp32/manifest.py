include("$(PORT_DIR)/boards/manifest.py")
# The whole node frozen into MicroPython's ESP32_GENERIC firmware, built with your
# own ESP-IDF (README, "Boards"): the port's manifest first, then Fieldnode's
# library, every module under firmware/ (main.py as `main`: the node starts on every
# boot; Ctrl-C in the REPL stops it), and this board's `board` module with the shared
# `board_common`, and boot.py (boards/common/: imports `board` at every boot and soft
# reset, the raw REPL's too, then runs a /boot.py of yours).
include("../../lib/manifest.py")
freeze("../../firmware")
module("board.py")
module("board_common.py", base_path="../common")
module("boot.py", base_path="../common")
