"""Which files fieldnode deploy sends and removes: only a fieldnode build's, for the
board; what an earlier bundle had and this one lacks (fieldnode_files.json); a main.py
that is not the launcher; deeply nested JSON read as damaged (the pty board and its
fixtures: cli_board.py, conftest.py)."""

import json
import shutil

from cli_board import LISTING, bundle_files, counts, deploy
from fieldnode_cli import fieldnode


def board_tree(device):
    return sorted(str(p.relative_to(device.fs)) for p in device.fs.rglob("*") if p.name != "tty")


def test_deploy_sends_only_a_fieldnode_build_for_the_board(device, bundle, tmp_path):
    """A random folder (its notes.txt went to the board) and an esp32 bundle deployed with
    --board unix were copied; only main.py and what package.json lists go now."""
    assert json.loads((bundle / "package.json").read_text())["board"] == "unix"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("shopping list\n")
    esp = tmp_path / "esp32"
    assert fieldnode("build", "--board", "esp32", "--out", esp).returncode == 0
    older = tmp_path / "older"                      # a build from before "board" was written
    shutil.copytree(bundle, older)
    pkg = json.loads((older / "package.json").read_text())
    del pkg["board"]
    (older / "package.json").write_text(json.dumps(pkg))
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "lib" / "payload.mpy").unlink()
    again = "run `fieldnode build --board unix` (--out DIR) again; nothing written"
    for build_dir, why in [
            (notes, "not a fieldnode build (no main.py launcher with a package.json): run "
                    "`fieldnode build --board unix` first; nothing written"),
            (esp, "a build for esp32, not unix (wrong --board or --build-dir?); nothing written"),
            (older, "its package.json names no board (an older build): " + again),
            (broken, "lib/payload.mpy is missing (an incomplete build): " + again)]:
        r = deploy(device, build_dir)
        assert r.returncode == 1 and r.stderr == "fieldnode deploy: %s: %s\n" % (build_dir, why)
    assert board_tree(device) == []

    extra = tmp_path / "extra"                      # files beside a build stay on the host
    shutil.copytree(bundle, extra)
    (extra / "notes.txt").write_text("not for the board\n")
    (extra / "lib" / "scratch.py").write_text("x = 1\n")
    r = deploy(device, extra)
    assert r.returncode == 0, r.stderr
    assert bundle_files(device.fs) == bundle_files(bundle)
    assert device.alive()


def with_modules(bundle, out, names):
    """A copy of `bundle` whose package.json also lists lib/<name> for each of `names`."""
    shutil.copytree(bundle, out)
    pkg = json.loads((out / "package.json").read_text())
    for name in names:
        (out / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
        (out / "lib" / name).write_bytes(b"M\x06 " + name.encode())
        pkg["urls"].append([name, "lib/" + name])
    (out / "package.json").write_text(json.dumps(pkg))
    return out


def listing(device):
    return json.loads((device.fs / LISTING).read_text())


def test_deploy_removes_what_an_earlier_bundle_had_and_this_one_lacks(device, bundle,
                                                                      tmp_path):
    """A module an older bundle had stayed on the board for ever: a package dropped or
    made a module kept its directory, which shadows the new module on import. The
    board's fieldnode_files.json lists what deploys put there: the next deploy removes
    what the new bundle lacks, and the directories that leaves empty; a file of the
    user's own is left alone."""
    lib = [f for f in bundle_files(bundle) if f.startswith("lib/")]
    older = with_modules(bundle, tmp_path / "older", ["gone.mpy", "oldpkg/__init__.mpy",
                                                      "oldpkg/sub/x.mpy"])
    r = deploy(device, older)
    assert r.returncode == 0, r.stderr
    old_lib = sorted(lib + ["lib/gone.mpy", "lib/oldpkg/__init__.mpy", "lib/oldpkg/sub/x.mpy"])
    assert listing(device) == old_lib and "removed" not in r.stdout
    (device.fs / "lib" / "mine.py").write_text("x = 1\n")       # the user's own
    (device.fs / "lib" / "oldpkg" / "notes.txt").write_text("kept\n")

    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert ("deploy: removed 3 files an earlier deploy put there that this bundle does not "
            "have: lib/gone.mpy, lib/oldpkg/__init__.mpy, lib/oldpkg/sub/x.mpy\n") in r.stdout
    assert bundle_files(device.fs) == sorted(bundle_files(bundle)
                                             + ["lib/mine.py", "lib/oldpkg/notes.txt"])
    assert not (device.fs / "lib" / "oldpkg" / "sub").exists()     # left empty: removed
    assert listing(device) == lib

    (device.fs / "lib" / "oldpkg" / "notes.txt").unlink()
    r = deploy(device, older)                       # and back: nothing of ours removed
    assert r.returncode == 0 and "removed" not in r.stdout, r.stdout
    assert listing(device) == old_lib
    r = deploy(device, bundle)
    assert r.returncode == 0 and "removed 3 files" in r.stdout, r.stdout
    assert not (device.fs / "lib" / "oldpkg").exists()
    assert (device.fs / "lib" / "mine.py").exists()

    (device.fs / LISTING).write_text("{not json")  # a damaged list: nothing removed
    r = deploy(device, older)
    assert r.returncode == 0 and "removed" not in r.stdout, r.stdout
    assert listing(device) == old_lib
    assert device.alive()


def test_deploy_keeps_a_main_py_that_is_not_the_launcher(device, bundle):
    """A board's own main.py was silently overwritten: refused (nothing written) unless
    --replace-main, which keeps it as main.py.bak."""
    (device.fs / "main.py").write_text("import my_app\nmy_app.run()\n")
    r = deploy(device, bundle)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: the board's main.py is not Fieldnode's launcher (it "
                        "starts 'import my_app'): --replace-main replaces it, keeping it as "
                        "main.py.bak; nothing written\n")
    assert board_tree(device) == ["main.py"]
    r = fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", bundle,
                  "--no-reset", "--replace-main")
    assert r.returncode == 0, r.stderr
    assert "deploy: the board's main.py kept as main.py.bak" in r.stdout
    assert (device.fs / "main.py.bak").read_text() == "import my_app\nmy_app.run()\n"
    assert (device.fs / "main.py").read_text() == "import fieldnode_main\n"
    # the launcher (a comment added by hand too) is Fieldnode's: deployed over without a word
    (device.fs / "main.py").write_text("import fieldnode_main  # mine\n")
    r = deploy(device, bundle)
    assert r.returncode == 0 and counts(r.stdout)[1] == 1, r.stderr
    assert "main.py.bak" not in r.stdout


def test_deploy_reads_deeply_nested_json_as_damaged(device, bundle, tmp_path):
    """A board's fieldnode_files.json (or a build's package.json) nested deeper than
    Python's json goes was a RecursionError traceback: now a damaged list (nothing
    removed) and "not a fieldnode build", as for any JSON that does not parse."""
    deep = "[" * 5000 + "]" * 5000
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "package.json").write_text(deep)
    r = deploy(device, broken)
    assert r.returncode == 1 and r.stderr == (
        "fieldnode deploy: %s: not a fieldnode build (no main.py launcher with a package.json): "
        "run `fieldnode build --board unix` first; nothing written\n" % broken), r.stderr
    (device.fs / LISTING).write_text(deep)
    r = deploy(device, bundle)
    assert r.returncode == 0 and "removed" not in r.stdout, r.stderr
    assert listing(device) == [f for f in bundle_files(bundle) if f.startswith("lib/")]
