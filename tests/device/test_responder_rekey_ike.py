# IKE SA rekeys we start (firmware/ike/rekey_ike_own.py) at soft expiry: the device becomes the new
# IKE SA's original initiator (RFC 7296 2.18). The head office's side here computes the new SA's
# keys with its own key schedule from the exchange's nonces and DH, and speaks on the new SA with
# the roles swapped: its messages without the Initiator flag, sent with SK_er/SK_ar.
import os
import time

import ike_peer as P
from crypto import dh
from ike import const
from ike import keys
from ike import message
from ike import sa as sa_mod
from ike import sk

LIFE = 100  # ike_lifetime (s); the default margin is 10 %: soft expiry at 90 s


def ago(ms):
    return time.ticks_add(time.ticks_ms(), -ms)


class Responding:
    """The head office on an IKE SA the device started: SPIi is the device's, we are its responder."""

    def __init__(self, spi_i, spi_r, k, encr):
        self.spi_i, self.spi_r, self.keys = spi_i, spi_r, k
        self.tx = sk.SkCodec(encr, k.sk_er, k.sk_ar)
        self.rx = sk.SkCodec(encr, k.sk_ei, k.sk_ai)
        self.msg_id = 0

    def open(self, data):
        m = message.decode(data)
        return m, self.rx.open(data, m)[0]

    def request(self, exchange, payloads):
        m = message.Message(self.spi_i, self.spi_r, exchange, 0, self.msg_id, payloads)
        self.msg_id += 1
        return self.tx.seal(m)

    def answer(self, req, payloads):
        m = message.Message(self.spi_i, self.spi_r, req.exchange, const.FLAG_RESPONSE, req.msg_id, payloads)
        return self.tx.seal(m)


def due(**peer_over):
    """Establish, age the IKE SA past its soft expiry, tick: (r, wan, sad, i, s, our request msg, payloads)."""
    r, wan, sad = P.rig(ike_lifetime=LIFE, **peer_over)
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    s.created = ago(91000)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert not m.is_response and not m.flags & const.FLAG_INITIATOR and m.exchange == const.CREATE_CHILD_SA
    return r, wan, sad, i, s, m, p


def answer(i, m, p, group=None):
    """The head office accepts our rekey: the first proposal with the group of our KE, its new SPI, Nr
    and KEr. Returns (response, the new SA as the head office has it)."""
    ke = P.first(p, message.Ke)
    group = group or ke.group
    prop = [x for x in P.first(p, message.Sa).proposals
            if any(t.type == const.TRANS_DH and t.id == group for t in x.transforms)][0]
    spi_r = os.urandom(8)
    t = [x for x in prop.transforms if x.type != const.TRANS_DH] + [message.Transform(const.TRANS_DH, group)]
    kp = dh.new(group)
    gir = kp.shared(ke.data)
    ni = bytes(P.first(p, message.Nonce).data)
    nr = os.urandom(32)
    resp = i.answer(m, [message.Sa([message.Proposal(prop.num, const.PROTO_IKE, spi_r, t)]), message.Nonce(nr),
                        message.Ke(group, kp.public)])
    encr = [x for x in t if x.type == const.TRANS_ENCR][0]
    spi_i = bytes(prop.spi)
    k = keys.ike_keys(keys.rekey_skeyseed(i.keys.sk_d, gir, ni, nr), ni, nr, spi_i, spi_r, encr.keylen // 8)
    return resp, Responding(spi_i, spi_r, k, encr.id)


def test_soft_expiry_rekeys_the_ike_sa_as_its_new_initiator():
    r, wan, sad, i, s, m, p = due()
    prop = P.first(p, message.Sa).proposals[0]
    assert prop.protocol == const.PROTO_IKE and len(prop.spi) == 8
    assert P.first(p, message.Ke).group == const.MODP_2048  # the SA's own group
    children = list(s.children)
    resp, hq = answer(i, m, p)
    r.input(resp, P.HQ_NATT, True)
    n = r.sas[hq.spi_i]  # our SPI is the new SA's SPIi
    assert n.flags == const.FLAG_INITIATOR and n.spi_r == hq.spi_r and n.children == children
    assert s.children == [] and len(sad.sas) == 1
    from ike import status
    assert sorted([x["initiator"] for x in status.snapshot(r)["ike"]]) == [False, True]  # the old SA, the new
    # The old SA is deleted by us right away, on the old SA.
    m2, p2 = i.open(wan.pop()[0])
    assert P.first(p2, message.Delete).protocol == const.PROTO_IKE
    r.input(i.answer(m2, []), P.HQ_NATT, True)
    assert list(r.sas) == [hq.spi_i] and len(sad.sas) == 1
    # The head office, now the responder, checks liveness on the new SA: answered with our new keys
    # and the Initiator flag.
    r.input(hq.request(const.INFORMATIONAL, []), P.HQ_NATT, True)
    data, remote, natt = wan.pop()
    m3, p3 = hq.open(data)
    assert m3.is_response and m3.flags & const.FLAG_INITIATOR and m3.msg_id == 0 and p3 == []
    # Our own requests on it (a DELETE at shutdown) carry the flag too.
    r.shutdown()
    m4, p4 = hq.open(wan.pop()[0])
    assert not m4.is_response and m4.flags & const.FLAG_INITIATOR and m4.msg_id == 0
    assert P.first(p4, message.Delete).protocol == const.PROTO_IKE


def test_messages_with_the_wrong_initiator_flag_are_dropped():
    r, wan, sad, i, s, m, p = due()
    resp, hq = answer(i, m, p)
    r.input(resp, P.HQ_NATT, True)
    wan.sent.clear()
    # As if the head office still were the new SA's initiator: not the SA the device knows.
    bad = message.Message(hq.spi_i, hq.spi_r, const.INFORMATIONAL, const.FLAG_INITIATOR, 0, [])
    r.input(hq.tx.seal(bad), P.HQ_NATT, True)
    assert wan.sent == []


def test_the_head_office_rekeys_it_again_roles_swap_back():
    r, wan, sad, i, s, m, p = due()
    resp, hq = answer(i, m, p)
    r.input(resp, P.HQ_NATT, True)
    m2, _ = i.open(wan.pop()[0])
    r.input(i.answer(m2, []), P.HQ_NATT, True)
    kp = dh.new(const.MODP_2048)
    spi = os.urandom(8)
    ni = os.urandom(32)
    r.input(hq.request(const.CREATE_CHILD_SA, [message.Sa([P.ike_proposal("aes256-sha256-modp2048", spi)]),
                                               message.Nonce(ni), message.Ke(const.MODP_2048, kp.public)]),
            P.HQ_NATT, True)
    m3, p3 = hq.open(wan.pop()[0])
    ours = bytes(P.first(p3, message.Sa).proposals[0].spi)
    n = r.sas[ours]
    assert n.spi_i == spi and n.flags == 0 and len(n.children) == 1


def test_peer_rekey_crossing_ours_gets_temporary_failure():
    r, wan, sad, i, s, m, p = due()
    resp, hq = answer(i, m, p)  # made before the crossing request: see test_responder_rekey.py
    kp = dh.new(const.MODP_2048)
    r.input(i.request(const.CREATE_CHILD_SA, [message.Sa([P.ike_proposal("aes256-sha256-modp2048", os.urandom(8))]),
                                              message.Nonce(os.urandom(32)), message.Ke(const.MODP_2048, kp.public)]),
            P.HQ_NATT, True)
    m2, p2 = i.open(wan.pop()[0])
    assert P.notify_types(p2) == [const.TEMPORARY_FAILURE]
    r.input(resp, P.HQ_NATT, True)
    assert hq.spi_i in r.sas and len(r.sas) == 2  # one new SA, and the old one being deleted


def test_invalid_ke_retried_with_the_named_group():
    r, wan, sad, i, s, m, p = due()
    r.input(i.answer(m, [message.Notify(0, b"", const.INVALID_KE_PAYLOAD, bytes((0, const.CURVE25519)))]),
            P.HQ_NATT, True)
    m2, p2 = i.open(wan.pop()[0])
    assert m2.exchange == const.CREATE_CHILD_SA and P.first(p2, message.Ke).group == const.CURVE25519
    resp, hq = answer(i, m2, p2)
    r.input(resp, P.HQ_NATT, True)
    assert r.sas[hq.spi_i].chosen.dh == const.CURVE25519


def test_temporary_failure_retried():
    r, wan, sad, i, s, m, p = due()
    r.input(i.answer(m, [message.Notify(0, b"", const.TEMPORARY_FAILURE)]), P.HQ_NATT, True)
    r.tick()
    assert wan.sent == [] and not s.rekey_refused
    s.rekey_after = ago(1)
    r.tick()
    m2, p2 = i.open(wan.pop()[0])
    assert m2.exchange == const.CREATE_CHILD_SA and P.first(p2, message.Sa).proposals[0].protocol == const.PROTO_IKE


def test_refusal_leaves_the_sa_to_its_hard_expiry():
    r, wan, sad, i, s, m, p = due()
    lines = P.capture()
    try:
        r.input(i.answer(m, [message.Notify(0, b"", const.NO_PROPOSAL_CHOSEN)]), P.HQ_NATT, True)
        s.rekey_after = ago(1)
        r.tick()
        assert wan.sent == [] and s.rekey_refused
        s.created = ago(LIFE * 1000 + 1)
        r.tick()
    finally:
        P.capture()
    m2, p2 = i.open(wan.pop()[0])
    assert P.first(p2, message.Delete).protocol == const.PROTO_IKE
    assert any("NO_PROPOSAL_CHOSEN" in x for x in P.warns(lines)), lines
    assert any("peer refused our rekey" in x for x in lines), lines


def test_a_choice_we_did_not_offer_is_refused():
    r, wan, sad, i, s, m, p = due()
    ke = P.first(p, message.Ke)
    kp = dh.new(ke.group)
    bad = P.ike_proposal("aes128-sha256-modp2048", os.urandom(8))  # we offered aes256 with modp2048
    r.input(i.answer(m, [message.Sa([bad]), message.Nonce(os.urandom(32)), message.Ke(ke.group, kp.public)]),
            P.HQ_NATT, True)
    assert s.rekey_refused and s.state == sa_mod.ESTABLISHED and len(r.sas) == 1 and len(s.children) == 1


def test_unanswered_rekey_removes_the_ike_sa():
    timers = {"retransmit_timeout_ms": 100, "retransmit_base_pct": 100, "retransmit_tries": 1}
    r, wan, sad, i, s, m, p = due(timers=timers)
    s.out.sent = ago(100)
    r.tick()  # the one retransmit
    s.out.sent = ago(100)
    r.tick()
    assert r.sas == {} and sad.sas == {}


def test_one_rekey_started_a_tick():
    # Two IKE SAs fall due together (they came up together): their rekeys start a tick apart, each
    # tick's DH work bounded.
    r, wan, sad = P.rig(ike_lifetime=LIFE)
    sas = []
    for _ in range(2):
        i, p = P.establish(r, wan)
        sas.append(r.sas[i.spi_r])
    for s in sas:
        s.created = ago(91000)
    r.tick()
    assert len(wan.sent) == 1 and len([s for s in sas if s.out is not None]) == 1
    r.tick()
    assert len(wan.sent) == 2 and all(s.out is not None for s in sas)
