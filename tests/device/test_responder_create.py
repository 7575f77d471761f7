# CREATE_CHILD_SA on the responder (firmware/ike/create.py, child.py, rekey_ike.py): a new CHILD SA,
# CHILD SA rekeys with and without PFS, IKE SA rekey (2.18) with the CHILD SAs moving over, and the
# rejections.
import os

import ike_peer as P
from crypto import dh
from ike import const
from ike import keys
from ike import message
from ike import sa as sa_mod
from ike import sk


def child_request(i, esp="aes256-sha256", rekey=None, ke_group=None, spi=None):
    spi = spi or os.urandom(4)
    ni = os.urandom(32)
    p = []
    if rekey is not None:
        p.append(message.Notify(const.PROTO_ESP, rekey, const.REKEY_SA))
    p += [message.Sa([P.esp_proposal(esp, spi)]), message.Nonce(ni)]
    kp = None
    if ke_group is not None:
        kp = dh.new(ke_group)
        p.append(message.Ke(ke_group, kp.public))
    p += [message.TsI(P.selectors("10.10.1.0/24")), message.TsR(P.selectors("10.20.1.0/24"))]
    return i.request(const.CREATE_CHILD_SA, p), spi, ni, kp


def exchange(r, wan, i, req):
    r.input(req, P.HQ_NATT, True)
    return i.open(wan.pop()[0])[1]


def test_new_child_sa():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    req, spi, ni, kp = child_request(i)
    p = exchange(r, wan, i, req)
    prop = P.first(p, message.Sa).proposals[0]
    nr = bytes(P.first(p, message.Nonce).data)
    assert len(sad.sas) == 2
    a = sad.sas[bytes(prop.spi)].args
    ei, ai, er, ar = keys.child_keymat(i.keys.sk_d, ni, nr, 32)
    assert a["spi_out"] == spi and (a["enc_in"], a["auth_in"], a["enc_out"], a["auth_out"]) == (ei, ai, er, ar)
    assert [type(x).__name__ for x in p] == ["Sa", "Nonce", "TsI", "TsR"]


def test_child_rekey_with_pfs_then_delete_old():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    old_in = bytes(P.first(p, message.Sa).proposals[0].spi)
    req, spi, ni, kp = child_request(i, esp="aes128-sha256-modp2048", rekey=i.child_spi, ke_group=const.MODP_2048)
    p = exchange(r, wan, i, req)
    ke = P.first(p, message.Ke)
    assert ke.group == const.MODP_2048
    nr = bytes(P.first(p, message.Nonce).data)
    new_in = bytes(P.first(p, message.Sa).proposals[0].spi)
    a = sad.sas[new_in].args
    gir = kp.shared(ke.data)
    assert a["keylen"] == 128
    assert (a["enc_in"], a["auth_in"], a["enc_out"], a["auth_out"]) == keys.child_keymat(i.keys.sk_d, ni, nr, 16, 32, gir)
    s = r.sas[i.spi_r]
    assert s.child_by_in(old_in).state == sa_mod.REKEYED
    # The initiator deletes the old SA; the answer names our inbound SPI of it.
    p = exchange(r, wan, i, i.request(const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [i.child_spi])]))
    d = P.first(p, message.Delete)
    assert d.protocol == const.PROTO_ESP and [bytes(x) for x in d.spis] == [old_in]
    assert list(sad.sas) == [new_in]


def test_child_sa_with_pfs_dh_runs_once_the_exchange_code_has_gone():
    # As for an IKE SA rekey: the selectors wait through the DH as bytes, and come back the same.
    import sys
    r, wan, sad = P.rig(esp_proposals=["aes256-sha256", "aes256-sha256-ecp256"])
    i, p = P.establish(r, wan)
    seen = []
    shared = dh.KeyPair.shared

    def spy(kp, peer):
        seen.append((len(wan.sent), [m for m in ("ike.create", "ike.child", "ike.ts", "ike.selection", "ike.structs")
                                     if m in sys.modules]))
        return shared(kp, peer)

    req, spi, ni, kp = child_request(i, esp="aes256-sha256-ecp256", ke_group=const.ECP_256)
    dh.KeyPair.shared = spy
    try:
        p = exchange(r, wan, i, req)
    finally:
        dh.KeyPair.shared = shared
    assert seen == [(0, [])], seen
    assert [type(x).__name__ for x in p] == ["Sa", "Nonce", "Ke", "TsI", "TsR"]
    assert [(x.start_addr, x.end_addr) for x in P.first(p, message.TsI).selectors] == [(b"\x0a\x0a\x01\x00", b"\x0a\x0a\x01\xff")]
    assert [(x.start_addr, x.end_addr) for x in P.first(p, message.TsR).selectors] == [(b"\x0a\x14\x01\x00", b"\x0a\x14\x01\xff")]
    new_in = bytes(P.first(p, message.Sa).proposals[0].spi)
    a = sad.sas[new_in].args
    gir = kp.shared(P.first(p, message.Ke).data)
    nr = bytes(P.first(p, message.Nonce).data)
    assert (a["enc_in"], a["auth_in"], a["enc_out"], a["auth_out"]) == keys.child_keymat(i.keys.sk_d, ni, nr, 32, 32, gir)
    assert len(r.sas[i.spi_r].children) == 2


def test_pfs_wrong_group_invalid_ke():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    req, spi, ni, kp = child_request(i, esp="aes128-sha256-modp2048", rekey=i.child_spi, ke_group=const.ECP_256)
    p = exchange(r, wan, i, req)
    n = [x for x in p if isinstance(x, message.Notify)][0]
    assert n.notify_type == const.INVALID_KE_PAYLOAD and bytes(n.data) == b"\x00\x0e"
    assert len(sad.sas) == 1


def test_rekey_unknown_child_not_found():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    req, spi, ni, kp = child_request(i, rekey=b"\xde\xad\xbe\xef")
    p = exchange(r, wan, i, req)
    n = [x for x in p if isinstance(x, message.Notify)][0]
    assert n.notify_type == const.CHILD_SA_NOT_FOUND and bytes(n.spi) == b"\xde\xad\xbe\xef"


def test_rekey_of_child_being_deleted_temporary_failure():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    s.children[0].state = sa_mod.DELETING
    req, spi, ni, kp = child_request(i, rekey=i.child_spi)
    assert P.notify_types(exchange(r, wan, i, req)) == [const.TEMPORARY_FAILURE]


def test_child_limit_no_additional_sas():
    r, wan, sad = P.rig(limits={"max_child_sas": 1})
    i, p = P.establish(r, wan)
    req, spi, ni, kp = child_request(i)
    assert P.notify_types(exchange(r, wan, i, req)) == [const.NO_ADDITIONAL_SAS]


def ike_rekey(r, wan, i, text="aes256-sha256-modp2048", group=const.MODP_2048):
    spi_i = os.urandom(8)
    ni = os.urandom(32)
    kp = dh.new(group)
    req = i.request(const.CREATE_CHILD_SA, [message.Sa([P.ike_proposal(text, spi_i)]), message.Nonce(ni),
                                            message.Ke(group, kp.public)])
    return exchange(r, wan, i, req), spi_i, ni, kp


def test_ike_rekey_moves_children_and_new_sa_works():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    child_in = bytes(P.first(p, message.Sa).proposals[0].spi)
    p, spi_i, ni, kp = ike_rekey(r, wan, i)
    prop = P.first(p, message.Sa).proposals[0]
    spi_r = bytes(prop.spi)
    nr = bytes(P.first(p, message.Nonce).data)
    gir = kp.shared(P.first(p, message.Ke).data)
    n = r.sas[spi_r]
    assert n.spi_i == spi_i and n.state == sa_mod.ESTABLISHED
    assert [c.spi_in for c in n.children] == [child_in] and r.sas[i.spi_r].state == sa_mod.REKEYED
    # Independent key schedule: SKEYSEED = prf(SK_d old, g^ir | Ni | Nr) (RFC 7296 2.18).
    k = keys.ike_keys(keys.rekey_skeyseed(i.keys.sk_d, gir, ni, nr), ni, nr, spi_i, spi_r, 32)
    # The old SA is deleted by the initiator, on the old SA.
    p = exchange(r, wan, i, i.request(const.INFORMATIONAL, [message.Delete(const.PROTO_IKE, [])]))
    assert p == [] and i.spi_r not in r.sas and len(sad.sas) == 1
    # The new SA answers a liveness check with message ID 0 under the new keys.
    ni2 = P.Initiator()
    ni2.spi_i, ni2.spi_r = spi_i, spi_r
    ni2.tx = sk.SkCodec(const.ENCR_AES_CBC, k.sk_ei, k.sk_ai)
    ni2.rx = sk.SkCodec(const.ENCR_AES_CBC, k.sk_er, k.sk_ar)
    ni2.msg_id = 0
    r.input(ni2.request(const.INFORMATIONAL, []), P.HQ_NATT, True)
    m, p = ni2.open(wan.pop()[0])
    assert m.msg_id == 0 and p == []


def test_ike_rekey_wrong_group_invalid_ke():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    p, spi_i, ni, kp = ike_rekey(r, wan, i, "aes256-sha256-ecp256-modp2048", const.ECP_256)
    n = [x for x in p if isinstance(x, message.Notify)][0]
    assert n.notify_type == const.INVALID_KE_PAYLOAD and bytes(n.data) == b"\x00\x0e"
    assert len(r.sas) == 1


def test_ike_rekey_during_our_request_temporary_failure():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    s = r.sas[i.spi_r]
    assert r.request(s, const.INFORMATIONAL, [])
    wan.pop()
    p, spi_i, ni, kp = ike_rekey(r, wan, i)
    assert P.notify_types(p) == [const.TEMPORARY_FAILURE]


def test_ike_rekey_dh_runs_once_the_exchange_code_has_gone():
    # The DH is the peak of an hour of rekeys: by then the exchange's modules and the parsed request
    # have left the heap (ike/later.py); the answer follows it and carries our KE.
    import sys
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    seen = []
    shared = dh.KeyPair.shared

    def spy(kp, peer):
        seen.append((len(wan.sent), [m for m in ("ike.create", "ike.rekey_ike", "ike.selection", "ike.structs")
                                     if m in sys.modules]))
        return shared(kp, peer)

    dh.KeyPair.shared = spy
    try:
        p, spi_i, ni, kp = ike_rekey(r, wan, i)
    finally:
        dh.KeyPair.shared = shared
    assert seen == [(0, [])], seen
    spi_r = bytes(P.first(p, message.Sa).proposals[0].spi)
    assert r.sas[spi_r].spi_i == spi_i and r.sas[i.spi_r].state == sa_mod.REKEYED


def test_ike_rekey_with_an_invalid_dh_value_is_refused():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    for value in (bytes(255) + b"\x01", b"\xff" * 256, bytes(255)):
        req = i.request(const.CREATE_CHILD_SA, [message.Sa([P.ike_proposal("aes256-sha256-modp2048", os.urandom(8))]),
                                                message.Nonce(os.urandom(32)), message.Ke(const.MODP_2048, value)])
        assert P.notify_types(exchange(r, wan, i, req)) == [const.INVALID_SYNTAX], value
    assert len(r.sas) == 1 and r.sas[i.spi_r].state == sa_mod.ESTABLISHED
