# INFORMATIONAL on the responder (firmware/ike/info.py, responder.py): the peer's DELETEs and
# liveness checks, the message-ID window, and our own requests: DPD with retransmission and giving
# up, DELETE on lifetime expiry and on shutdown.
import json
import os
import time

import ike_peer as P
from ike import const
from ike import message
from ike import sa as sa_mod
from ipsec.sad import BASE, PACKETS_IN


def ago(ms):
    return time.ticks_add(time.ticks_ms(), -ms)


def test_liveness_check_answered_and_cached():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    req = i.request(const.INFORMATIONAL, [])
    r.input(req, P.HQ_NATT, True)
    data = wan.pop()[0]
    m, p = i.open(data)
    assert m.is_response and m.msg_id == 2 and p == []
    r.input(req, P.HQ_NATT, True)
    assert wan.pop()[0] == data


def test_stale_and_future_message_ids_dropped():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    r.input(i.request(const.INFORMATIONAL, [], msg_id=0), P.HQ_NATT, True)
    r.input(i.request(const.INFORMATIONAL, [], msg_id=5), P.HQ_NATT, True)
    assert wan.sent == []
    assert r.counters["dropped"] == 2


def test_delete_child_from_peer():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    ours = bytes(P.first(p, message.Sa).proposals[0].spi)
    r.input(i.request(const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [i.child_spi])]), P.HQ_NATT, True)
    m, p = i.open(wan.pop()[0])
    assert [bytes(x) for x in P.first(p, message.Delete).spis] == [ours]
    assert not sad.sas and r.sas[i.spi_r].state == sa_mod.ESTABLISHED


def test_delete_ike_from_peer():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    r.input(i.request(const.INFORMATIONAL, [message.Delete(const.PROTO_IKE, [])]), P.HQ_NATT, True)
    m, p = i.open(wan.pop()[0])
    assert p == [] and not r.sas and not sad.sas


def test_dpd_when_silent_answered():
    r, wan, sad = P.rig(dpd_delay=5)
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    r.tick()
    assert wan.sent == []
    s.last_rx = ago(6000)
    r.tick()
    data, remote, natt = wan.pop()
    assert remote == P.HQ_NATT and natt
    m, p = i.open(data)
    assert not m.is_response and m.exchange == const.INFORMATIONAL and m.msg_id == 0 and p == []
    r.input(i.answer(m, []), P.HQ_NATT, True)
    assert s.out is None and s.state == sa_mod.ESTABLISHED


def test_esp_traffic_counts_as_life():
    r, wan, sad = P.rig(dpd_delay=5)
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    s.last_rx = ago(6000)
    e = list(sad.sas.values())[0]
    e.c[PACKETS_IN] = 3
    r.tick()
    assert wan.sent == []
    # The SAD moves a growing counter into its running total: the packets are still counted as
    # they were, and one more is life again.
    s.last_rx = ago(6000)
    e.c[PACKETS_IN] = 1
    e.c[BASE + PACKETS_IN] = 3
    r.tick()
    assert wan.sent == []


def test_dpd_retransmits_then_gives_up():
    r, wan, sad = P.rig(dpd_delay=5, timers={"retransmit_timeout_ms": 100, "retransmit_base_pct": 200,
                                             "retransmit_tries": 2})
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    s.last_rx = ago(6000)
    r.tick()
    first = wan.pop()[0]
    s.out.sent = ago(100)
    r.tick()
    assert wan.pop()[0] == first  # the same request, byte for byte
    r.tick()
    assert wan.sent == []  # backoff: 200 ms this time
    s.out.sent = ago(200)
    r.tick()
    assert wan.pop()[0] == first
    s.out.sent = ago(400)
    r.tick()
    assert not r.sas and not sad.sas


def test_child_lifetime_expiry_sends_delete():
    r, wan, sad = P.rig(child_lifetime=60)
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    ours = s.children[0].spi_in
    s.children[0].created = ago(61000)
    r.tick()
    m, p = i.open(wan.pop()[0])
    d = P.first(p, message.Delete)
    assert d.protocol == const.PROTO_ESP and [bytes(x) for x in d.spis] == [ours]
    r.input(i.answer(m, [message.Delete(const.PROTO_ESP, [i.child_spi])]), P.HQ_NATT, True)
    assert not s.children and not sad.sas


def test_ike_lifetime_expiry_sends_delete():
    r, wan, sad = P.rig(ike_lifetime=60)
    i, p = P.establish(r, wan)
    r.sas[i.spi_r].created = ago(61000)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert P.first(p, message.Delete).protocol == const.PROTO_IKE
    r.input(i.answer(m, []), P.HQ_NATT, True)
    assert not r.sas and not sad.sas


def test_crossing_deletes_not_echoed():
    r, wan, sad = P.rig(child_lifetime=60)
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    s.children[0].created = ago(61000)
    r.tick()
    wan.pop()  # our DELETE, in flight
    r.input(i.request(const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [i.child_spi])]), P.HQ_NATT, True)
    m, p = i.open(wan.pop()[0])
    assert p == []  # RFC 7296 1.4.1: no Delete payload for SAs we are deleting ourselves


def test_shutdown_sends_delete():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    r.shutdown()
    m, p = i.open(wan.pop()[0])
    assert not m.is_response and P.first(p, message.Delete).protocol == const.PROTO_IKE
    assert not r.sas and not sad.sas


def test_nat_rebinding_followed():
    path = P.status_path()
    r, wan, sad = P.rig(path)
    try:
        i, p = P.establish(r, wan)
        moved = P.addr.make(P.addr.parse_ip("10.99.0.1"), 40000)
        r.input(i.request(const.INFORMATIONAL, []), moved, True)
        assert wan.pop()[1] == moved
        assert list(sad.sas.values())[0].peer == moved
        # The status view shows the new mapping as soon as the loop is idle (its next tick), not at
        # its next refresh (STATUS_REFRESH_MS).
        r.tick(True)
        with open(path) as f:
            assert json.load(f)["ike"][0]["remote"] == "10.99.0.1:40000"
    finally:
        os.remove(path)


def test_garbage_for_established_sa_dropped():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    req = bytearray(i.request(const.INFORMATIONAL, []))
    req[40] ^= 0xFF
    r.input(bytes(req), P.HQ_NATT, True)
    r.input(b"\x00" * 10, P.HQ_NATT, True)
    assert wan.sent == [] and r.sas[i.spi_r].state == sa_mod.ESTABLISHED


def test_sad_events_rekey_or_delete_child():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    entry = list(sad.sas.values())[0]
    r.sad_event(entry, "seq_limit")  # sequence numbers running out: rekey
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert m.exchange == const.CREATE_CHILD_SA and P.first(p, message.Notify).notify_type == const.REKEY_SA
    r.input(i.answer(m, [message.Notify(0, b"", const.NO_PROPOSAL_CHOSEN)]), P.HQ_NATT, True)
    r.sad_event(entry, "hard")  # past the hard lifetime: delete
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert [bytes(x) for x in P.first(p, message.Delete).spis] == [entry.spi_in]


def test_peer_rejecting_our_auth_closes_the_ike_sa():
    # RFC 7296 2.21.2: an initiator that cannot verify our AUTH says so in an INFORMATIONAL and drops
    # the IKE SA (strongSwan when it wants another identity for us). Ours goes too, not left
    # "established" until DPD finds it dead, and the log says what to check.
    r, wan, sad = P.rig()
    lines = P.capture()
    i, p = P.establish(r, wan)
    r.input(i.request(const.INFORMATIONAL, [message.Notify(0, b"", const.AUTHENTICATION_FAILED)]), P.HQ_NATT, True)
    P.log.set_output(None)
    m, p = i.open(wan.pop()[0])
    assert m.is_response and p == []
    assert not r.sas and not sad.sas
    assert [l for l in lines if "rejected our authentication (AUTHENTICATION_FAILED)" in l
            and "we are branch.example.net" in l], lines


def test_other_errors_named_and_kept():
    r, wan, sad = P.rig()
    lines = P.capture()
    i, p = P.establish(r, wan)
    r.input(i.request(const.INFORMATIONAL, [message.Notify(0, b"", const.INVALID_SPI, b"\0\0\0\1")]),
            P.HQ_NATT, True)
    P.log.set_output(None)
    wan.pop()
    assert r.sas[i.spi_r].state == sa_mod.ESTABLISHED
    assert [l for l in lines if "reports INVALID_SPI" in l], lines
