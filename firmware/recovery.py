# Coming back by itself: retries with backoff for what the environment gets wrong at boot (WAN link
# down, address not there yet, no DHCP lease), and crash-loop detection for what the firmware gets
# wrong. Every boot counts as a crash in a small file until it has been up health.HEALTHY_MS (health.tick()
# keeps the uptime); CRASH_LIMIT boots in a row that did not get that far start the provisioning
# console only (safe mode). A power-on reset starts the count afresh: a power cycle is the user's
# way out, not a crash.
import time

import log

CRASH_FILE = "crashes"
CRASH_LIMIT = 3
BACKOFF_FIRST_MS = 1000
BACKOFF_MAX_MS = 60000
_SLICE_MS = 1000  # sleeps are cut into slices with a watchdog feed between them

_LOG = log.Logger("boot")


def crashes(path=CRASH_FILE):
    """Boots in a row that ended before running health.HEALTHY_MS (0 if none recorded)."""
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def set_crashes(n, path=CRASH_FILE):
    with open(path, "w") as f:
        f.write("%d\n" % n)


def boot(reset_cause, path=CRASH_FILE):
    """Count this boot (it is a crash until healthy() says otherwise); returns the crashes in a row
    before it."""
    n = 0 if reset_cause == "power-on" else crashes(path)
    set_crashes(n + 1, path)
    return n


def healthy(path=CRASH_FILE):
    set_crashes(0, path)


def retry(fn, what, wdt=None, first_ms=BACKOFF_FIRST_MS, max_ms=BACKOFF_MAX_MS):
    """fn() until it returns without OSError, sleeping first_ms, 2x, 4x... (at most max_ms) between
    tries; each failure is logged once with its cause."""
    delay = first_ms
    tries = 0
    while True:
        try:
            v = fn()
        except OSError as e:
            tries += 1
            _LOG.warn("%s: %s; try %d failed, next in %d ms" % (what, describe(e), tries, delay))
            ms = delay
            while ms > 0:  # in slices, feeding the watchdog between them
                step = min(ms, _SLICE_MS)
                time.sleep_ms(step)
                ms -= step
                if wdt is not None:
                    wdt.feed()
            delay = min(delay * 2, max_ms)
            continue
        if tries:
            _LOG.info("%s: up after %d failed tries" % (what, tries))
        return v


def describe(e):
    """An OSError's errno by name where MicroPython knows it ('EADDRINUSE'; else 'errno 99'), or
    its message."""
    import errno
    if e.args and isinstance(e.args[0], int):
        return errno.errorcode.get(e.args[0], "errno %d" % e.args[0])
    return str(e)
