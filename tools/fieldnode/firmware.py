"""The firmware's own schema modules (firmware/config.py, firmware/payload.py), loaded
from the repository so host and node never disagree: no copy of a schema lives here."""

import importlib.util
import os
import sys

from . import ROOT


def module(name):
    """firmware/<name>.py imported under CPython as `fieldnode_firmware_<name>`."""
    key = "fieldnode_firmware_" + name
    lib = os.path.join(ROOT, "lib")  # config.py checks broker URLs with mqtt5's parser
    if lib not in sys.path:
        sys.path.append(lib)
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(ROOT, "firmware", name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]
