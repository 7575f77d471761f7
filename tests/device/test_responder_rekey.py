# CHILD SA rekeys we start (firmware/ike/rekey_child.py) at soft expiry, and the collision with a
# rekey the peer starts at the same time (RFC 7296 2.8.1): which new SA stays is decided by the
# lowest of the four nonces, the same way on both sides.
import gc
import os
import time

import ike_peer as P
import log
from crypto import dh
from ike import const
from ike import keys
from ike import message
from ike import sa as sa_mod


def ago(ms):
    return time.ticks_add(time.ticks_ms(), -ms)


def due(r, wan, i, **auth_kw):
    """Establish, age the CHILD SA past its soft expiry, tick: returns (our request msg, payloads, s)."""
    i, p = P.establish(r, wan, i, **auth_kw)
    s = r.sas[i.spi_r]
    s.children[0].created = ago(56000)  # child_lifetime 60, margin 6 (10%)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert not m.is_response and m.exchange == const.CREATE_CHILD_SA
    return i, m, p, s


def answer(i, m, p, nr=None, spi=None):
    """The head office's answer to our rekey: the first proposal, its new SPI, Nr, KEr if PFS."""
    prop = P.first(p, message.Sa).proposals[0]
    spi = spi or os.urandom(4)
    groups = [t.id for t in prop.transforms if t.type == const.TRANS_DH]
    chosen = message.Proposal(prop.num, const.PROTO_ESP, spi, [t for t in prop.transforms if t.type != const.TRANS_DH]
                              + ([message.Transform(const.TRANS_DH, groups[0])] if groups else []))
    nr = nr or os.urandom(32)
    out = [message.Sa([chosen]), message.Nonce(nr)]
    gir = None
    ke = P.first(p, message.Ke)
    if groups:
        kp = dh.new(groups[0])
        gir = kp.shared(ke.data)
        out.append(message.Ke(groups[0], kp.public))
    out += [P.first(p, message.TsI), P.first(p, message.TsR)]
    return i.answer(m, out), spi, bytes(P.first(p, message.Nonce).data), nr, gir


def test_soft_expiry_rekeys_with_pfs_then_deletes_old():
    r, wan, sad = P.rig(child_lifetime=60, esp_proposals=["aes128-sha256-modp2048"])
    i, m, p, s = due(r, wan, P.Initiator(), esp="aes128-sha256")
    old = s.children[0]
    assert old.state == sa_mod.REKEYING
    n = P.first(p, message.Notify)
    assert n.notify_type == const.REKEY_SA and bytes(n.spi) == old.spi_in
    assert P.first(p, message.Ke).group == const.MODP_2048
    our_spi = bytes(P.first(p, message.Sa).proposals[0].spi)
    resp, spi, ni, nr, gir = answer(i, m, p)
    r.input(resp, P.HQ_NATT, True)
    a = sad.sas[our_spi].args
    # We started the exchange: the initiator->responder keys are the ones we send with.
    ei, ai, er, ar = keys.child_keymat(i.keys.sk_d, ni, nr, 16, 32, gir)
    assert (a["enc_out"], a["auth_out"], a["enc_in"], a["auth_in"]) == (ei, ai, er, ar)
    assert a["spi_out"] == spi
    # The old SA is deleted by us right away.
    m2, p2 = i.open(wan.pop()[0])
    assert [bytes(x) for x in P.first(p2, message.Delete).spis] == [old.spi_in]
    r.input(i.answer(m2, [message.Delete(const.PROTO_ESP, [i.child_spi])]), P.HQ_NATT, True)
    assert list(sad.sas) == [our_spi]


def test_temporary_failure_retried():
    r, wan, sad = P.rig(child_lifetime=60)
    i, m, p, s = due(r, wan, P.Initiator())
    r.input(i.answer(m, [message.Notify(0, b"", const.TEMPORARY_FAILURE)]), P.HQ_NATT, True)
    c = s.children[0]
    assert c.state == sa_mod.ESTABLISHED and len(sad.sas) == 1
    r.tick()
    assert wan.sent == []
    c.rekey_after = ago(1)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert m.exchange == const.CREATE_CHILD_SA


def test_no_proposal_chosen_leaves_sa_to_hard_expiry():
    r, wan, sad = P.rig(child_lifetime=60)
    i, m, p, s = due(r, wan, P.Initiator())
    r.input(i.answer(m, [message.Notify(0, b"", const.NO_PROPOSAL_CHOSEN)]), P.HQ_NATT, True)
    c = s.children[0]
    c.rekey_after = ago(1)
    r.tick()
    assert wan.sent == [] and c.rekey_refused
    c.created = ago(61000)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert P.first(p, message.Delete) is not None


def collide(lowest_ours):
    r, wan, sad = P.rig(child_lifetime=60)
    i, m, p, s = due(r, wan, P.Initiator())
    old = s.children[0]
    our_new = bytes(P.first(p, message.Sa).proposals[0].spi)
    # The answer to ours, made now (sent below): see test_peer_deletes_child_during_our_rekey.
    resp, spi, ni, nr, gir = answer(i, m, p, nr=bytes(32) if lowest_ours else b"\x90" * 32)
    # The head office rekeys the same SA before it has seen our request.
    their_ni = bytes(32) if not lowest_ours else b"\x80" * 32
    their_spi = os.urandom(4)
    req = i.request(const.CREATE_CHILD_SA, [
        message.Notify(const.PROTO_ESP, i.child_spi, const.REKEY_SA),
        message.Sa([P.esp_proposal("aes256-sha256", their_spi)]), message.Nonce(their_ni),
        message.TsI(P.selectors("10.10.1.0/24")), message.TsR(P.selectors("10.20.1.0/24"))])
    r.input(req, P.HQ_NATT, True)
    m2, p2 = i.open(wan.pop()[0])
    assert m2.is_response and P.first(p2, message.Sa) is not None  # answered as usual
    their_new = bytes(P.first(p2, message.Sa).proposals[0].spi)
    assert len(sad.sas) == 2 and old.state == sa_mod.REKEYING
    # Now the answer to ours arrives.
    r.input(resp, P.HQ_NATT, True)
    assert len(sad.sas) == 3
    m3, p3 = i.open(wan.pop()[0])
    deleted = [bytes(x) for x in P.first(p3, message.Delete).spis]
    return deleted, old, our_new, their_new


def test_collision_ours_lowest_nonce_we_delete_ours():
    deleted, old, our_new, their_new = collide(True)
    assert deleted == [our_new] and old.state == sa_mod.REKEYED


def test_collision_theirs_lowest_nonce_we_delete_old():
    deleted, old, our_new, their_new = collide(False)
    assert deleted == [old.spi_in]


def test_peer_deletes_child_during_our_rekey():
    r, wan, sad = P.rig(child_lifetime=60)
    i, m, p, s = due(r, wan, P.Initiator())
    old = s.children[0]
    # The head office's answer, made (not sent) before anything else reaches the responder: after
    # each input it unloads ike.structs, and p's payloads are of the classes it had then.
    resp, spi, ni, nr, gir = answer(i, m, p)
    r.input(i.request(const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [i.child_spi])]), P.HQ_NATT, True)
    m2, p2 = i.open(wan.pop()[0])
    assert [bytes(x) for x in P.first(p2, message.Delete).spis] == [old.spi_in]
    r.input(resp, P.HQ_NATT, True)
    assert wan.sent == []  # nothing old left to delete


def held():
    gc.collect()
    return gc.mem_alloc()


def test_requests_in_flight_hold_no_exchange_code():
    # Our rekey and our DELETE wait for the answer with what they need, not with the code of
    # rekey_child.py or info.py: those are unloaded after the tick that starts them (~9 and ~3.6 KB,
    # and a rekey started on a later tick would load a second copy).
    r, wan, sad = P.rig(child_lifetime=60)
    i, m, p, s = due(r, wan, P.Initiator())
    r.input(answer(i, m, p)[0], P.HQ_NATT, True)  # one whole rekey first: the names are all interned
    m, p = i.open(wan.pop()[0])
    r.input(i.answer(m, [message.Delete(const.PROTO_ESP, [i.child_spi])]), P.HQ_NATT, True)
    c = s.children[0]
    before = held()
    c.created = ago(56000)
    r.tick()
    assert s.out is not None and held() - before < 3072  # the request, Ni, the DH keypair
    s.out = None
    c.state = sa_mod.ESTABLISHED
    wan.sent.clear()
    before = held()
    c.expired = "hard"
    r.tick()
    assert s.out is not None and held() - before < 1024


def test_unanswered_rekey_then_unanswered_delete_remove_the_ike_sa():
    # The handlers of our requests are found when the answer is given up (sa.Request.then).
    timers = {"retransmit_timeout_ms": 100, "retransmit_base_pct": 100, "retransmit_tries": 1}
    for delete in (False, True):
        r, wan, sad = P.rig(child_lifetime=60, timers=timers)
        i, p = P.establish(r, wan)
        s = r.sas[i.spi_r]
        c = s.children[0]
        if delete:
            c.expired = "hard"
        else:
            c.created = ago(56000)
        lines = P.capture()
        try:
            r.tick()
            s.out.sent = ago(100)
            r.tick()  # the one retransmit
            s.out.sent = ago(100)
            r.tick()
        finally:
            log.set_output(None)
        assert len(wan.sent) == 2 and not r.sas and not sad.sas
        why = ("the DELETE for CHILD SA %s" % "".join(["%02x" % b for b in c.spi_in]) if delete
               else "our CHILD SA rekey")
        assert [x for x in lines if "deleted: peer did not answer " + why in x], lines
