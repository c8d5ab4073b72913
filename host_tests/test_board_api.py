"""Every board module has the whole board API (boards/board_api.py), and the frozen
boards/common/boot.py imports the board module, then the filesystem's boot.py."""

import ast
import os
import subprocess

import pytest

from runtimes import ROOT
from test_board_modules import BOARDS


def _top_names(path):
    """The names a module's source defines or imports at its top level."""
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


@pytest.mark.parametrize("board", BOARDS + ("unix",))
def test_every_board_has_the_whole_board_api(board):
    # a name boards/board_api.py declares and a board lacks is an AttributeError on
    # that board only, when the firmware first calls it
    api = _top_names(os.path.join(ROOT, "boards", "board_api.py"))
    have = _top_names(os.path.join(ROOT, "boards", board, "board.py"))
    assert sorted(n for n in api if not n.startswith("_") and n not in have) == []


@pytest.mark.parametrize("user_boot", [False, True])
def test_frozen_boot_imports_board_then_runs_yours(tmp_path, user_boot):
    """boards/common/boot.py, frozen into both images, runs at every boot and soft reset
    (the raw REPL's too, where main.py does not run): it imports `board` (the takeover of
    a watchdog left running) and then a /boot.py on the filesystem, which the frozen one
    hides from the port. Run here by the MicroPython unix port as the port runs it (in
    __main__'s globals, the filesystem's root as the working directory), with a stand-in
    `board` that records its import."""
    from runtimes import tool

    (tmp_path / "board.py").write_text("print('board')\n")
    if user_boot:
        (tmp_path / "boot.py").write_text(
            "import sys\nprint('yours', 'board' in sys.modules,"
            " sorted(k for k in globals() if not k.startswith('__')))\n")
    frozen = os.path.join(ROOT, "boards", "common", "boot.py")
    r = subprocess.run([tool("micropython"), "-c", "execfile(%r)\nprint('left', sorted("
                        "k for k in globals() if not k.startswith('__')))" % frozen],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    expect = ["board"] + (["yours True ['sys']", "left ['sys']"] if user_boot else ["left []"])
    assert lines == expect, r.stdout
