# The device's health for the provisioning console's status command: uptime, heap, reset cause,
# crash count, safe mode, and (when the tunnel side is running) SAs and counters. main records the
# boot facts and the running board here; status() reads them. Never key material: the SA part is
# ike/status.py's snapshot, which has none.
#
# Uptime is summed from tick to tick: ticks_diff spans only 6.2 days on an ESP32 (ticks wrap at 2**30
# ms), a box's uptime months. Once up for HEALTHY_MS, the boot stops counting as a crash (recovery.py).
import binascii
import gc
import os
import time

import log

HEALTHY_MS = 5 * 60 * 1000

_boot = {"reset_cause": None, "crashes": 0, "safe_mode": None, "board": None}
# Changes at every boot, so the host sees a restart; kept here, as provision.py comes and goes.
BOOT_ID = binascii.hexlify(os.urandom(4)).decode()
_up = [0, 0, None, False]  # seconds, leftover ms, ticks at the last tick(), crash counter cleared
_running = None  # main.Board once up: .responder, .wan, .sad
_LOG = log.Logger("boot")


def booted(reset_cause, crashes):
    _up[2] = time.ticks_ms()
    _boot["reset_cause"] = reset_cause
    _boot["crashes"] = crashes


def tick():
    """Advance the uptime; main's loop calls it every iteration (it must come at least every 6 days)."""
    now = time.ticks_ms()
    ms = _up[1] + time.ticks_diff(now, _up[2])
    _up[0] += ms // 1000
    _up[1] = ms % 1000
    _up[2] = now
    if not _up[3] and _up[0] * 1000 >= HEALTHY_MS:
        _up[3] = True
        import recovery  # loaded for this once (main lets boot-time modules go)
        recovery.healthy()
        _LOG.info("up for %d s: crash counter cleared" % _up[0])


def uptime_s():
    tick()
    return _up[0]


def board(name):
    _boot["board"] = name


def safe_mode(why):
    _boot["safe_mode"] = why


def running(board):
    global _running
    _running = board


def status():
    """{"uptime_s", "heap_free", "heap_used", "reset_cause", "crashes", "safe_mode", "board",
    "ike", "child", "counters"}; SAs and counters empty while the tunnel side is not running."""
    b = _boot
    gc.collect()  # heap_free after a collection: without one it swings with the garbage waiting
    out = {"uptime_s": uptime_s(), "heap_free": gc.mem_free(),
           "heap_used": gc.mem_alloc(), "reset_cause": b["reset_cause"], "crashes": b["crashes"],
           "safe_mode": b["safe_mode"], "board": b["board"], "ike": [], "child": [], "counters": {}}
    r = _running
    if r is not None:
        from ike import status as sa_status
        snap = sa_status.snapshot(r.responder)
        out["ike"] = snap["ike"]
        out["child"] = snap["child"]
        out["counters"] = {"ike": r.responder.counters, "wan": r.wan.counters}
        snap = sa_status = None
        # ike.status and what it uses go now: the loop looks for transient modules only after it
        # imported some itself (Responder.tick).
        from ike import responder
        responder.unload_transient()
    return out
