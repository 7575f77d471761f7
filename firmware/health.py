# The device's health for the provisioning console's status command: uptime, heap, reset cause,
# crash count, safe mode, and (when the tunnel side is running) SAs and counters. main records the
# boot facts and the running board here; status() reads them. Never key material: the SA part is
# ike/status.py's snapshot, which has none.
import gc
import time

_boot = {"started": None, "reset_cause": None, "crashes": 0, "safe_mode": None, "board": None}
_running = None  # main.Board once up: .responder, .wan, .sad


def booted(reset_cause, crashes):
    _boot["started"] = time.ticks_ms()
    _boot["reset_cause"] = reset_cause
    _boot["crashes"] = crashes


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
    out = {"uptime_s": time.ticks_diff(time.ticks_ms(), b["started"]) // 1000, "heap_free": gc.mem_free(),
           "heap_used": gc.mem_alloc(), "reset_cause": b["reset_cause"], "crashes": b["crashes"],
           "safe_mode": b["safe_mode"], "board": b["board"], "ike": [], "child": [], "counters": {}}
    r = _running
    if r is not None:
        from ike import status as sa_status
        snap = sa_status.snapshot(r.responder)
        out["ike"] = snap["ike"]
        out["child"] = snap["child"]
        out["counters"] = {"ike": r.responder.counters, "wan": r.wan.counters}
    return out
