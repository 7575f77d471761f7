# Per-datagram warnings on the unauthenticated input path are rate limited (firmware/ike/responder.py
# hush): a flood of IKEv1, wrong-version or refused IKE_SA_INIT datagrams logs its first line, then
# one summary per QUIET_MS saying how many more were dropped; the counters count every one. Runs on a
# fake clock (ticks start 10 s before the wrap, so the windows cross it). Also: the status view's heap
# and WAN counters.
import fakeclock  # first: the firmware's `import time` must get the fake clock

import log
import ike_peer as P
from ike import const
from ike import message
from ike import responder
from ike import status

C = fakeclock.clock


def _datagram(major):
    d = bytearray(P.Initiator().sa_init())
    d[17] = major << 4
    return bytes(d)


def test_ikev1_flood_one_line_then_summaries():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        v1 = _datagram(1)
        for _ in range(500):
            r.input(v1, P.HQ, False)
            C.advance(1)
        warns = P.warns(lines)
        assert len(warns) == 1 and "IKEv1 packet from" in warns[0] and "RFC 9395" in warns[0], warns
        assert r.counters["ikev1"] == 500 and r.counters["dropped"] == 500 and wan.sent == []
        C.advance(responder.QUIET_MS)
        r.tick()  # the window is over: one summary of the 499 not logged
        warns = P.warns(lines)
        assert len(warns) == 2 and "dropped 499 more IKEv1 datagrams in the last 10 s" in warns[1], warns
        for _ in range(3):  # a new window: summed up at its end, not logged one by one
            r.input(v1, P.HQ, False)
        r.tick()
        assert len(P.warns(lines)) == 2
        C.advance(responder.QUIET_MS)
        r.tick()
        warns = P.warns(lines)
        assert len(warns) == 3 and "dropped 3 more IKEv1 datagrams" in warns[2], warns
        C.advance(responder.QUIET_MS)
        r.tick()  # a window with nothing in it: no line, and the next datagram is logged in full
        assert len(P.warns(lines)) == 3 and not r.quiet
        r.input(v1, P.HQ, False)
        warns = P.warns(lines)
        assert len(warns) == 4 and "IKEv1 packet from" in warns[3], warns
        assert r.counters["ikev1"] == 504
    finally:
        log.set_output(None)


def test_summary_on_next_datagram_without_tick():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        v1 = _datagram(1)
        for _ in range(10):
            r.input(v1, P.HQ, False)
        C.advance(responder.QUIET_MS + 1)
        r.input(v1, P.HQ, False)
        warns = P.warns(lines)
        assert len(warns) == 2 and "dropped 9 more IKEv1 datagrams" in warns[1], warns
        assert r.counters["ikev1"] == 11
    finally:
        log.set_output(None)


def test_bad_major_version_answered_but_logged_once():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        v3 = _datagram(3)
        for _ in range(50):
            r.input(v3, P.HQ, False)
        assert len(wan.sent) == 50  # each still gets its INVALID_MAJOR_VERSION
        m = message.decode(wan.pop()[0])
        assert m.notify(const.INVALID_MAJOR_VERSION) is not None
        warns = P.warns(lines)
        assert len(warns) == 1 and "IKE version 3.0" in warns[0], warns
        assert r.counters["dropped"] == 50
        C.advance(responder.QUIET_MS)
        r.tick()
        warns = P.warns(lines)
        assert len(warns) == 2 and "dropped 49 more datagrams of an unsupported IKE version" in warns[1], warns
    finally:
        log.set_output(None)


def test_kinds_limited_separately():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        for _ in range(5):
            r.input(_datagram(1), P.HQ, False)
            r.input(_datagram(3), P.HQ, False)
        warns = P.warns(lines)
        assert len(warns) == 2, warns
    finally:
        log.set_output(None)


def test_status_has_wan_counters_and_collected_heap():
    r, wan, sad = P.rig()
    wan.counters = {"ike_rx": 7, "runt": 2, "keepalive_rx": 1}
    snap = status.snapshot(r)
    assert snap["wan"] == {"ike_rx": 7, "runt": 2, "keepalive_rx": 1}
    assert snap["heap_free"] > 0
    import gc
    gc.collect()
    free = gc.mem_free()
    # taken after a collection: within a little of a fresh collection's figure (no garbage in it)
    assert abs(status.snapshot(r)["heap_free"] - free) < 4096, (free,)


def test_malformed_init_flood_answered_but_logged_once():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        for _ in range(20):
            m = message.decode(P.Initiator().sa_init())
            m.payloads = [p for p in m.payloads if not isinstance(p, message.Ke)]
            r.input(m.encode(), P.HQ, False)
        assert len(wan.sent) == 20 and r.counters["dropped"] == 20
        warns = P.warns(lines)
        assert len(warns) == 1 and "lacks SA, KE or a valid nonce" in warns[0], warns
        C.advance(responder.QUIET_MS)
        r.tick()
        warns = P.warns(lines)
        assert len(warns) == 2 and "dropped 19 more malformed IKE_SA_INIT requests" in warns[1], warns
    finally:
        log.set_output(None)


def test_proposal_mismatch_flood_named_once_then_summarised():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        gcm = message.Proposal(1, const.PROTO_IKE, b"", [
            message.Transform(const.TRANS_ENCR, const.ENCR_AES_GCM_16, 128),
            message.Transform(const.TRANS_PRF, const.PRF_HMAC_SHA2_256),
            message.Transform(const.TRANS_DH, const.ECP_384)])
        for _ in range(20):
            r.input(P.Initiator(group=const.ECP_256).sa_init(proposals=[gcm]), P.HQ, False)
        assert len(wan.sent) == 20  # every one still gets its NO_PROPOSAL_CHOSEN
        warns = P.warns(lines)
        assert len(warns) == 1 and "proposal mismatch" in warns[0] and "ecp384" in warns[0], warns
        C.advance(responder.QUIET_MS)
        r.tick()
        warns = P.warns(lines)
        assert len(warns) == 2, warns
        assert "dropped 19 more IKE_SA_INIT requests with no acceptable proposal in the last 10 s" in warns[1]
    finally:
        log.set_output(None)


def test_invalid_ke_flood_named_once_then_summarised():
    r, wan, sad = P.rig()
    lines = P.capture()
    try:
        for _ in range(6):
            r.input(P.Initiator(group=const.ECP_256).sa_init(), P.HQ, False)
        assert len(wan.sent) == 6  # each answered with INVALID_KE_PAYLOAD
        assert len([l for l in lines if "INVALID_KE_PAYLOAD" in l]) == 1, lines
        C.advance(responder.QUIET_MS)
        r.tick()
        assert "dropped 5 more IKE_SA_INIT requests with a KE of another DH group" in lines[-1], lines
    finally:
        log.set_output(None)
