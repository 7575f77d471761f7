# The device's view of its SAs for people and tests: one "status: {json}" line on the console after
# each change and, on the sim board, the same JSON in the status file (written aside, then renamed
# over it). SPIs, algorithms (strongSwan's names), selectors, counters; never key material.
# Loaded only to write the status (a transient module of the responder, as is ike.ts it uses).
import gc
import json
import os
import sys
import time

import log
from ike import const
from ike import identity
from ike import sa as sa_mod
from ike import ts
from net import addr


def flush(r, changed):
    snap = snapshot(r)
    if changed and log.enabled(log.INFO):
        # Not through the log ring (a status line with a few SAs is a kilobyte, and the ring would
        # keep dozens of them in the heap), and streamed: the line as one string (and the same again
        # with its prefix) would need two kilobyte-sized contiguous blocks, which a fragmented heap
        # refuses first. Nothing else writes to the console in between (one thread).
        out = sys.stdout
        out.write("INFO status: ")
        json.dump(snap, out)
        out.write("\n")
    if r.status_path is not None:
        tmp = r.status_path + ".new"
        with open(tmp, "w") as f:
            json.dump(snap, f)
        os.rename(tmp, r.status_path)


def snapshot(r):
    """{"ike": [...], "child": [...], "counters": {...}, "wan": {...}, "heap_free": ..., ...}"""
    now = time.ticks_ms()
    ikes = []
    children = []
    for s in r.sas.values():
        ch = s.chosen
        ikes.append({
            "spi_i": identity.hexs(s.spi_i), "spi_r": identity.hexs(s.spi_r), "initiator": s.flags != 0,
            "state": sa_mod.STATES[s.state], "peer": s.peer.name if s.peer is not None else None,
            "remote": addr.describe(s.remote), "nat": s.nat, "encr": _ENCR.get(ch.encr, ch.encr),
            "keylen": ch.keylen, "integ": _INTEG.get(ch.integ, ch.integ), "prf": _PRF.get(ch.prf, ch.prf),
            "dh": _DH.get(ch.dh, ch.dh), "age_s": time.ticks_diff(now, s.created) // 1000})
        for c in s.children:
            ch = c.chosen
            local_ts, remote_ts = ts.describe_encoded(c.selectors)
            children.append({
                "ike_spi_r": identity.hexs(s.spi_r), "spi_in": identity.hexs(c.spi_in),
                "spi_out": identity.hexs(c.spi_out), "state": sa_mod.STATES[c.state],
                "encr": _ENCR.get(ch.encr, ch.encr), "keylen": ch.keylen,
                "integ": _INTEG.get(ch.integ, ch.integ), "dh": _DH.get(ch.dh, ch.dh),
                "local_ts": local_ts, "remote_ts": remote_ts, "encap": s.nat,
                "age_s": time.ticks_diff(now, c.created) // 1000,
                "counters": c.entry.counters if c.entry is not None else {}})
    dp = getattr(r, "dataplane", None)  # main's data plane (ESP engine + LAN gateway), once wired
    snap = {"ike": ikes, "child": children, "counters": r.counters,
            "wan": getattr(r.wan, "counters", None),  # ike_rx, runt, keepalive_rx, ... (net/wan.py)
            "dataplane": dp.status() if dp is not None else None,
            "uptime_s": time.ticks_diff(now, r.started) // 1000, "heap_free": None}
    if hasattr(gc, "mem_free"):
        # After a collection: without one the figure swings with whatever garbage is waiting (tens
        # of KB), and a leak would hide in it. Written on changes and every few seconds: cheap enough.
        gc.collect()
        snap["heap_free"] = gc.mem_free()
    return snap


# Algorithm names as strongSwan prints them (swanctl --list-sas --raw), so tests compare directly.
_ENCR = {const.ENCR_AES_CBC: "AES_CBC", const.ENCR_3DES: "3DES_CBC"}
_INTEG = {const.AUTH_HMAC_SHA2_256_128: "HMAC_SHA2_256_128"}
_PRF = {const.PRF_HMAC_SHA2_256: "PRF_HMAC_SHA2_256"}
_DH = {const.MODP_2048: "MODP_2048", const.ECP_256: "ECP_256", const.CURVE25519: "CURVE_25519", None: None}
