# Frozen as `boot.py` into both boards' images: MicroPython runs it at every boot and
# soft reset, the raw REPL's too (mpremote's before cp, fs, exec, mount), where main.py
# does not run (ports/rp2/main.c, ports/esp32/main.c, v1.28: the port's _boot.py, then
# boot.py, then main.py in the friendly REPL only). Importing `board` takes over a
# watchdog armed before a soft reset (the end of board.py): else nothing feeds it.
# A frozen boot.py hides the filesystem's (pyexec_file_if_exists looks in the frozen
# modules first): a boot.py of yours runs next, as it would have. No names are left.
__import__("board")
try:
    __import__("os").stat("boot.py")
except OSError:  # none (or no filesystem)
    pass
else:
    execfile("boot.py")  # noqa: F821 (a MicroPython builtin)
