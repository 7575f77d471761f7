"""CPython stand-in for MicroPython's `micropython` module, so firmware modules import under
CPython for property tests and fuzzing. Code generators become plain Python functions."""
import builtins


def const(x):
    return x


def _identity(f):
    return f


native = viper = _identity


def heap_lock():
    return 0


def heap_unlock():
    return 0


# Viper pointer casts: indexing a bytearray behaves the same for the byte-wide case.
for _name in ("ptr", "ptr8", "ptr16", "ptr32", "uint"):
    if not hasattr(builtins, _name):
        setattr(builtins, _name, lambda x: x)
