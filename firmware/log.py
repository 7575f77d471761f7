# Tiny leveled logger: "LEVEL module: message" lines to stdout (the serial console on a board) and
# into a ring of recent lines that `branchgate logs` can fetch. Callers pass a format and arguments,
# so nothing is formatted below the current level. Never pass a PSK or key material: there is no
# level at which secrets may be logged.
import sys

ERROR = 0
WARN = 1
INFO = 2
DEBUG = 3
NAMES = ("error", "warn", "info", "debug")
RING = 32  # lines kept for `branchgate logs`

_level = INFO
_ring = [None] * RING
_seq = 0  # lines logged since boot; the ring holds the last RING of them


def _out(line):
    sys.stdout.write(line + "\n")


_output = _out


def set_level(name):
    """Set the level by name ('error', 'warn', 'info', 'debug'); ValueError if unknown."""
    global _level
    _level = NAMES.index(name)


def level():
    return NAMES[_level]


def set_output(fn):
    """Send lines to fn(line) instead of stdout (the provisioning channel, tests); None restores."""
    global _output
    _output = _out if fn is None else fn


def enabled(lvl):
    return lvl <= _level


def emit(lvl, module, fmt, args):
    global _seq
    if lvl > _level:
        return
    msg = fmt % args if args else fmt
    line = "%s %s: %s" % (NAMES[lvl].upper(), module, msg)
    _ring[_seq % RING] = line
    _seq += 1
    _output(line)


def recent(since=0):
    """(next, lines): lines numbered since..next-1 still in the ring, oldest first. Poll with the
    returned `next` to follow the log."""
    start = max(since, _seq - RING, 0)
    return _seq, [_ring[i % RING] for i in range(start, _seq)]


class Logger:
    """log.get('ike.init').info('established with %s', name)"""

    def __init__(self, module):
        self.module = module

    def error(self, fmt, *args):
        emit(ERROR, self.module, fmt, args)

    def warn(self, fmt, *args):
        emit(WARN, self.module, fmt, args)

    def info(self, fmt, *args):
        emit(INFO, self.module, fmt, args)

    def debug(self, fmt, *args):
        if DEBUG <= _level:
            emit(DEBUG, self.module, fmt, args)


def get(module):
    return Logger(module)
