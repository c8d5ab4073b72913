"""Run the installed `fieldnode` CLI (.venv/bin/fieldnode) as a user would."""

import os
import subprocess

from runtimes import tool


def fieldnode(*args, timeout=120, env=None, **kw):
    """CompletedProcess of `fieldnode ARGS` (text, captured); never raises on exit codes."""
    return subprocess.run([tool("fieldnode")] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})), **kw)
