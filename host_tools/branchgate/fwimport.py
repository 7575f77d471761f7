"""Import firmware modules (config, ike.proposal, ...) under CPython, so the host tools validate with
the very code the device runs. Firmware imports are absolute from the firmware root (`from ike import
const`) and need a `micropython` module; both are provided here, once, for every tool."""
import importlib
import sys
import types

from . import paths


def _micropython_stand_in():
    # Only what firmware uses at import time outside the data path: const() and the code emitters.
    mod = types.ModuleType("micropython")
    mod.const = lambda x: x
    mod.native = mod.viper = lambda f: f
    return mod


def firmware_module(name):
    """The firmware module `name` (e.g. "config", "ike.proposal"), imported from branchgate.paths.FIRMWARE."""
    root = str(paths.FIRMWARE)
    if root not in sys.path:
        sys.path.insert(0, root)
    if "micropython" not in sys.modules:
        sys.modules["micropython"] = _micropython_stand_in()
    return importlib.import_module(name)
