# The whole node frozen into the MicroPython unix port (`make firmware BOARD=unix`):
# what the standard variant freezes (asyncio, mip, ...), then the library, every
# module under firmware/ (new ones are picked up by the folder freeze), and this
# board's `board` module.
#
# firmware/main.py is frozen as module `main`: the unix port never runs `main`
# on its own (its REPL and `micropython script.py` are unaffected); the node is
# started with `fieldnode-unix -m main`. (On esp32/rp2 a frozen main.py runs at every
# boot ahead of the one on the filesystem: their manifests freeze it on purpose, so a
# flashed board is the node from its first boot; README, "Device-class builds", the
# paragraph "main.py and the manifests".)
include("$(PORT_DIR)/variants/standard/manifest.py")
include("../../lib/manifest.py")
freeze("../../firmware")
module("board.py")
