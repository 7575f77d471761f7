# machine.WDT on the sim board. Fed too late, it ends the process with board.EXIT_WATCHDOG, the sim's
# reset; it also touches HEARTBEAT, so `branchgate sim run` kills a firmware that stops feeding it.
import sys
import time

import board
import log

HEARTBEAT = "wdt.beat"

_LOG = log.Logger("board")


class SimWdt:
    """machine.WDT on the sim: once made, feed() is due every timeout_ms."""

    def __init__(self, timeout_ms):
        self.timeout = timeout_ms
        self.fed = time.ticks_ms()
        self._beat = None
        self.feed()

    def feed(self):
        now = time.ticks_ms()
        late = time.ticks_diff(now, self.fed)
        if late > self.timeout:
            # Fed again, but too late: on a chip the reset would have happened by now.
            _LOG.error("watchdog: not fed for %d ms (timeout %d ms), resetting" % (late, self.timeout))
            sys.exit(board.EXIT_WATCHDOG)
        self.fed = now
        if self._beat is None or time.ticks_diff(now, self._beat) >= self.timeout // 4:
            self._beat = now
            with open(HEARTBEAT, "w") as f:
                f.write("%d\n" % self.timeout)
