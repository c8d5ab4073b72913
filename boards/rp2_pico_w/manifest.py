include("$(BOARD_DIR)/manifest.py")
# The whole node frozen into MicroPython's RPI_PICO_W firmware (`make firmware
# BOARD=rp2_pico_w`): the board's own manifest first (asyncio, network helpers,
# aioble), then Fieldnode's library, every module under firmware/, and this board's
# `board` module with the shared `board_common`.
#
# firmware/main.py is frozen as `main`, so the node starts on every boot, ahead of
# any main.py on the filesystem (MicroPython runs a frozen main first). Ctrl-C in
# the REPL stops it (mpremote does this before each command). boot.py (boards/common/)
# imports `board` at every boot and soft reset, the raw REPL's too (where main does not
# run): a watchdog armed before a soft reset is fed; it runs a /boot.py of yours next.
include("../../lib/manifest.py")
freeze("../../firmware")
module("board.py")
module("board_common.py", base_path="../common")
module("boot.py", base_path="../common")
