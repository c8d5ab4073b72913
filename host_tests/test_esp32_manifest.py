"""boards/esp32/manifest.py resolves against the pinned MicroPython source's esp32
port and every module it freezes compiles with mpy-cross for xtensawin: the node
(library, firmware, board modules) next to the port's own frozen modules. Turning
them into C needs the qstr header of a real ESP-IDF build, which this machine
cannot make; README "Boards" gives the commands for that."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpsource  # noqa: E402


def test_esp32_manifest_compiles_the_node(tmp_path):
    src = mpsource.source_dir()
    (tmp_path / "genhdr").mkdir()
    (tmp_path / "genhdr" / "qstrdefs.preprocessed.h").write_text("")  # a port build makes it
    env = dict(os.environ, MICROPY_MPYCROSS=mpsource.mpy_cross())
    argv = [sys.executable, os.path.join(src, "tools", "makemanifest.py"),
            "-o", str(tmp_path / "frozen_content.c"), "-b", str(tmp_path),
            "-v", "MPY_DIR=" + src, "-v", "MPY_LIB_DIR=" + os.path.join(src, "lib", "micropython-lib"),
            "-v", "PORT_DIR=" + os.path.join(src, "ports", "esp32"),
            "-v", "BOARD_DIR=" + os.path.join(src, "ports", "esp32", "boards", "ESP32_GENERIC"),
            "-f-march=xtensawin", os.path.join(ROOT, "boards", "esp32", "manifest.py")]
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=ROOT)
    frozen = tmp_path / "frozen_mpy"
    mpys = {str(p.relative_to(frozen)) for p in frozen.rglob("*.mpy")}
    # the C step stops at the missing ESP-IDF qstr header, after every module compiled
    assert "ERROR: Empty preprocessor output" in proc.stdout or proc.returncode == 0, proc.stdout
    node = {"board.mpy", "board_common.mpy", "main.mpy", "app.mpy", "config.mpy",
            "commands.mpy", "payload.mpy", "mqtt5/__init__.mpy", "mqtt5/session.mpy",
            "mqtt5/client.mpy", "mqtt5/supervisor.mpy", "mqtt5/packets/publish.mpy"}
    assert node <= mpys, (sorted(node - mpys), proc.stdout[-2000:])
    # the port's own frozen modules come first (the manifest includes the port's)
    assert {"_boot.mpy", "flashbdev.mpy", "asyncio/core.mpy"} <= mpys
    for rel in node:
        with open(frozen / rel, "rb") as f:
            assert f.read(2) == b"M\x06", rel  # mpy-cross v6 output
