# For the board drivers (board_fakes.py, board_clock.py): the fake machine, network
# and esp32 modules (host_tests/fakes/) and a real board's modules go on the path
# ahead of boards/unix, which the harness puts there; the fake network plays that
# board's port.
import sys


def use(board):
    root = __file__.rsplit("/", 3)[0]
    sys.path[0:0] = [root + "/host_tests/fakes", root + "/boards/" + board,
                     root + "/boards/common"]
    import network

    network.use_port("esp32" if board == "esp32" else "rp2")
