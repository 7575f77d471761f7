# An ESP32's millisecond ticks for device tests, standing in for the `time` module. Import this module
# before any firmware module: every later `import time` gets `clock`, whose ticks wrap at 2**30 ms as
# on the chip (MicroPython's ticks period with 31-bit small ints; the unix port's is 2**62, so its
# ticks never wrap) and move only when the test advances them. Ticks start 10 s before the wrap.
import sys
import time as _real

PERIOD = 1 << 30
_HALF = PERIOD >> 1
_MASK = PERIOD - 1


class Clock:
    def __init__(self, start=PERIOD - 10000):
        self.now = start
        self.slept = []  # every sleep_ms(ms) asked for, in order

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def ticks_add(self, t, delta):
        return (t + delta) & _MASK

    def advance(self, ms):
        self.now = (self.now + ms) & _MASK

    def sleep_ms(self, ms):
        self.slept.append(ms)
        self.advance(ms)

    def time(self):
        return _real.time()


clock = Clock()
sys.modules["time"] = clock
