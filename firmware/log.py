# Tiny leveled logger: "LEVEL module: message" lines to stdout (the serial console on a board) and
# into a ring of recent lines that `branchgate logs` can fetch. Callers pass a format and arguments,
# so nothing is formatted below the current level. Never pass a PSK or key material: there is no
# level at which secrets may be logged.
#
# The ring is text in one preallocated buffer (RING_BYTES), not a list of strings: the lines kept
# cost the same heap whatever their number, and keeping one does not leave a long-lived string in
# the middle of the heap an exchange is using. Lines are decoded only when someone reads them.
from micropython import const

ERROR = 0
WARN = 1
INFO = 2
DEBUG = 3
NAMES = ("error", "warn", "info", "debug")
RING = 32  # lines kept for `branchgate logs`, at most (as many of the last RING as fit in RING_BYTES)
RING_BYTES = const(2048)

_level = INFO
_ring = bytearray(RING_BYTES)
_ring_mv = memoryview(_ring)
_starts = [0] * RING  # byte count (since boot) at which line i starts: _starts[i % RING]
_end = 0  # bytes written to the ring since boot
_seq = 0  # lines logged since boot
_output = print  # stdout; print adds the newline without building another string


def set_level(name):
    """Set the level by name ('error', 'warn', 'info', 'debug'); ValueError if unknown."""
    global _level
    _level = NAMES.index(name)


def level():
    return NAMES[_level]


def set_output(fn):
    """Send lines to fn(line) instead of stdout (the provisioning channel, tests); None restores."""
    global _output
    _output = print if fn is None else fn


def enabled(lvl):
    return lvl <= _level


def emit(lvl, module, fmt, args):
    if lvl > _level:
        return
    msg = fmt % args if args else fmt
    line = "%s %s: %s" % (NAMES[lvl].upper(), module, msg)
    _keep(line)
    _output(line)


def _keep(line):
    global _seq, _end
    data = line.encode()
    n = len(data)
    if n > RING_BYTES // 2:
        n = RING_BYTES // 2  # a line longer than half the ring is kept cut short,
        while data[n] & 0xC0 == 0x80:  # at a character boundary
            n -= 1
    _starts[_seq % RING] = _end
    p = _end % RING_BYTES
    k = min(n, RING_BYTES - p)
    _ring_mv[p:p + k] = data if k == len(data) else memoryview(data)[:k]
    if k < n:  # wraps around
        _ring_mv[0:n - k] = memoryview(data)[k:n]
    _end += n
    _seq += 1


def recent(since=0):
    """(next, lines): lines numbered since..next-1 still in the ring, oldest first. Poll with the
    returned `next` to follow the log."""
    out = []
    for i in range(max(since, _seq - RING, 0), _seq):
        start = _starts[i % RING]
        stop = _starts[(i + 1) % RING] if i + 1 < _seq else _end
        if start < _end - RING_BYTES:
            continue  # overwritten
        p, q = start % RING_BYTES, stop % RING_BYTES
        data = bytes(_ring_mv[p:q]) if p < q or start == stop else bytes(_ring_mv[p:]) + bytes(_ring_mv[:q])
        out.append(str(data, "utf-8"))
    return _seq, out


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
