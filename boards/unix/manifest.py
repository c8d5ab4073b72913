# The whole node frozen into the MicroPython unix port (`make firmware BOARD=unix`):
# what the standard variant freezes (asyncio, mip, ...), then the library, every
# module under firmware/ (new ones are picked up by the folder freeze), and this
# board's `board` module.
#
# firmware/main.py is frozen as module `main`: the unix port never runs `main`
# on its own (its REPL and `micropython script.py` are unaffected); the node is
# started with `fieldnode-unix -m main`. Device manifests must NOT freeze it under
# that name: on esp32/rp2 a frozen main.py runs at every boot ahead of the one on
# the filesystem, so it could not be replaced and would hold the REPL.
include("$(PORT_DIR)/variants/standard/manifest.py")
include("../../lib/manifest.py")
freeze("../../firmware")
module("board.py")
