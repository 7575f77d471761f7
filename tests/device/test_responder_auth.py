# IKE_AUTH with PSK on the responder (firmware/ike/auth.py, child.py): AUTH both ways (checked with
# the initiator's own RFC 7296 2.15 computation), peer lookup by ID type, the first CHILD SA with
# narrowing, and every rejection.
import time

import ike_peer as P
import log
from ike import const
from ike import message
from ike import sa as sa_mod
from ike import ts


def test_established_with_child_in_sad():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    idr = i.check_auth(p)
    assert (idr.id_type, bytes(idr.data)) == (const.ID_FQDN, b"branch.example.net")
    s = r.sas[i.spi_r]
    assert s.state == sa_mod.ESTABLISHED and s.peer.name == "hq" and s.natt
    assert s.hs is None  # the handshake's octets and keys: no longer needed once authenticated
    prop = P.first(p, message.Sa).proposals[0]
    assert len(sad.sas) == 1
    e = sad.sas[bytes(prop.spi)]
    a = e.args
    assert a["spi_out"] == i.child_spi and a["encap"] and a["peer"] == P.HQ_NATT
    assert a["encr"] == const.ENCR_AES_CBC and a["keylen"] == 256
    # Keys per RFC 7296 2.17 from the initiator's side: the i->r keys protect what the device receives.
    from ike import keys
    ei, ai, er, ar = keys.child_keymat(i.keys.sk_d, i.ni, i.nr, 32)
    assert (a["enc_in"], a["auth_in"], a["enc_out"], a["auth_out"]) == (ei, ai, er, ar)
    assert [ts.describe_one(x) for x in a["local_ts"]] == ["10.20.1.0/24"]
    assert [ts.describe_one(x) for x in a["remote_ts"]] == ["10.10.1.0/24"]


def test_idr_naming_another_identity_is_warned():
    # The peer's IDr is who it wants us to be (2.5): another name means it will refuse our AUTH.
    r, wan, sad = P.rig()
    lines = P.capture()
    i, p = P.establish(r, wan, extra=[message.IdR(const.ID_FQDN, b"branch9.example.net")])
    log.set_output(None)
    i.check_auth(p)
    assert r.sas[i.spi_r].state == sa_mod.ESTABLISHED  # answered all the same: the peer decides
    assert [l for l in lines if "expects this device as branch9.example.net, we are branch.example.net" in l], lines
    lines = P.capture()
    P.establish(r, wan, extra=[message.IdR(const.ID_FQDN, b"Branch.Example.NET")])
    log.set_output(None)
    assert not [l for l in lines if "expects this device" in l], lines


def test_retransmitted_auth_gets_cached_response():
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    req = i.auth()
    r.input(req, P.HQ_NATT, True)
    first = wan.pop()[0]
    r.input(req, P.HQ_NATT, True)
    assert wan.pop()[0] == first
    assert len(sad.sas) == 1


def _auth_refused(**initiator_kw):
    """IKE_SA_INIT + IKE_AUTH from P.Initiator(**initiator_kw), answered AUTHENTICATION_FAILED;
    returns (responder, sad, the log lines of the exchange)."""
    r, wan, sad = P.rig()
    lines = P.capture()
    i = P.Initiator(**initiator_kw)
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    r.input(i.auth(), P.HQ_NATT, True)
    m, p = i.open(wan.pop()[0])
    log.set_output(None)
    assert P.notify_types(p) == [const.AUTHENTICATION_FAILED]
    return r, sad, lines


def test_wrong_psk_authentication_failed():
    r, sad, lines = _auth_refused(psk=b"not the right key at all 123")
    assert not sad.sas and not r.inits
    # Kept only to answer a retransmission (see the next test): half-open, no keys left.
    [s] = r.sas.values()
    assert s.state == sa_mod.HALF_OPEN and s.rx is None and s.tx is None and s.hs is None and s.sk_d is None
    assert [l for l in lines if "AUTH failed for peer hq (wrong PSK?)" in l], lines
    assert [l for l in lines if "with half-open closed: authentication failed" in l], lines
    text = "\n".join(lines)
    assert P.PSK.decode() not in text and "".join(["%02x" % b for b in P.PSK]) not in text


def test_auth_failed_resent_to_retransmission_then_expires():
    # RFC 7296 2.1: the peer retransmits IKE_AUTH when our AUTHENTICATION_FAILED is lost; the copy
    # (same message ID) gets the same answer byte for byte; the SA goes at the half-open timeout.
    r, wan, sad = P.rig()
    i = P.Initiator(psk=b"not the right key at all 123")
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    req = i.auth()
    r.input(req, P.HQ_NATT, True)
    first, remote, natt = wan.pop()
    r.input(req, P.HQ_NATT, True)
    again, remote2, natt2 = wan.pop()
    assert again == first and (remote2, natt2) == (remote, natt) == (P.HQ_NATT, True)
    m, p = i.open(again)
    assert m.is_response and m.msg_id == 1 and P.notify_types(p) == [const.AUTHENTICATION_FAILED]
    # A retransmission from elsewhere cannot be checked (no keys): not answered.
    r.input(req, P.HQ, False)
    assert wan.sent == []
    assert r.half_open() == 1 and not sad.sas
    lines = P.capture()
    s = r.sas[i.spi_r]
    r.tick()
    assert i.spi_r in r.sas
    s.created = time.ticks_add(time.ticks_ms(), -31000)
    r.tick()
    log.set_output(None)
    assert not r.sas and not r.inits
    assert not [l for l in lines if "expired half-open" in l], lines
    r.input(req, P.HQ_NATT, True)
    assert wan.sent == []


def test_auth_failed_sa_gives_its_slot_to_a_new_ike_sa_init():
    r, wan, sad = P.rig(limits={"cookie_threshold": 1, "max_half_open": 1})
    i = P.Initiator(psk=b"not the right key at all 123")
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    r.input(i.auth(), P.HQ_NATT, True)
    wan.pop()
    assert r.half_open() == 1
    # The limit is reached, but by an SA that only waits for a retransmission: a new handshake
    # gets through (no cookie asked) and that SA is gone.
    P.establish(r, wan)
    assert i.spi_r not in r.sas and len(r.sas) == 1 and len(sad.sas) == 1


def test_unknown_identity_authentication_failed():
    r, sad, lines = _auth_refused(ident=b"stranger.example.org")
    assert [l for l in lines if "stranger.example.org" in l], lines


def _auth_with_id(peer_id, id_type, data):
    r, wan, sad = P.rig(id=peer_id)
    i, p = P.establish(r, wan, P.Initiator(id_type=id_type, ident=data))
    i.check_auth(p)
    return r


def test_id_types():
    _auth_with_id("10.99.0.1", const.ID_IPV4_ADDR, bytes((10, 99, 0, 1)))
    _auth_with_id("hq@example.net", const.ID_RFC822_ADDR, b"hq@example.net")
    _auth_with_id("keyid:hq-key", const.ID_KEY_ID, b"hq-key")
    _auth_with_id("hq.example.net", const.ID_FQDN, b"HQ.Example.NET")  # FQDNs compare without case


def test_traffic_selectors_narrowed():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan, tsi=("10.10.0.0/16",), tsr=("0.0.0.0/0",))
    assert [ts.describe_one(x) for x in P.first(p, message.TsI).selectors] == ["10.10.1.0/24"]
    assert [ts.describe_one(x) for x in P.first(p, message.TsR).selectors] == ["10.20.1.0/24"]


def test_triggering_packet_selectors_are_folded_into_the_ranges():
    # RFC 7296 2.9: a request a packet triggered (strongSwan's start_action=trap) puts that packet's
    # addresses first, then the ranges. The answer keeps what covers them, not both (as strongSwan
    # does); a host outside every range still stays on its own.
    r, wan, sad = P.rig(local_ts=["10.20.1.0/24"], remote_ts=["10.10.1.0/24", "10.10.9.9"])
    i, p = P.establish(r, wan, tsi=("10.10.1.5/32", "10.10.1.0/24", "10.10.9.9/32"),
                       tsr=("10.20.1.10/32", "10.20.0.0/16"))
    assert [ts.describe_one(x) for x in P.first(p, message.TsI).selectors] == ["10.10.1.0/24", "10.10.9.9/32"]
    assert [ts.describe_one(x) for x in P.first(p, message.TsR).selectors] == ["10.20.1.0/24"]
    [e] = sad.sas.values()
    assert [ts.describe_one(x) for x in e.args["remote_ts"]] == ["10.10.1.0/24", "10.10.9.9/32"]


def test_status_names_the_kept_selectors_without_the_payload_codec():
    r, wan, sad = P.rig(local_ts=["10.20.1.0/24", "10.20.9.7"], remote_ts=["10.10.0.0/16"])
    i, p = P.establish(r, wan, tsi=("10.10.1.0/24", "10.10.7.0/24"), tsr=("10.20.0.0/16",))
    from ike import responder
    from ike import status
    responder.unload_transient()
    snap = status.snapshot(r)
    import sys
    assert "ike.structs" not in sys.modules
    [c] = snap["child"]
    assert c["local_ts"] == ["10.20.1.0/24", "10.20.9.7/32"], c
    assert c["remote_ts"] == ["10.10.1.0/24", "10.10.7.0/24"], c
    # Protocol, ports and ranges that are no subnet, as describe_one names them.
    from ike import message
    sel = [message.Selector(const.TS_IPV4_ADDR_RANGE, 6, 80, 443, bytes((10, 0, 0, 1)), bytes((10, 0, 0, 9))),
           message.Selector(const.TS_IPV4_ADDR_RANGE, 17, 0, 65535, bytes((10, 0, 0, 0)), bytes((10, 0, 0, 255)))]
    b = message.encode_payloads([message.TsI(sel), message.TsR(sel[:1])])[1]
    assert ts.describe_encoded(b) == [[ts.describe_one(x) for x in sel], [ts.describe_one(sel[0])]]
    assert ts.describe_encoded(b)[0] == ["10.0.0.1-10.0.0.9[proto 6 port 80-443]", "10.0.0.0/24[proto 17]"]


def test_ts_unacceptable_keeps_ike_sa():
    r, wan, sad = P.rig()
    lines = P.capture()
    i, p = P.establish(r, wan, tsi=("10.30.0.0/16",))
    log.set_output(None)
    i.check_auth(p)
    assert const.TS_UNACCEPTABLE in P.notify_types(p) and P.first(p, message.Sa) is None
    assert r.sas[i.spi_r].state == sa_mod.ESTABLISHED and not sad.sas
    assert [l for l in lines if "TS_UNACCEPTABLE" in l and "10.30.0.0/16" in l and "10.10.1.0/24" in l], lines
    assert not [l for l in lines if "transport" in l], lines


def test_ts_unacceptable_names_a_transport_mode_request():
    # strongSwan in transport mode narrows its configured subnets to its own address: often nothing.
    r, wan, sad = P.rig()
    lines = P.capture()
    i, p = P.establish(r, wan, tsi=("10.99.0.1/32",), tsr=("10.99.0.2/32",),
                       extra=[message.Notify(0, b"", const.USE_TRANSPORT_MODE)])
    log.set_output(None)
    assert const.TS_UNACCEPTABLE in P.notify_types(p)
    assert [l for l in lines if "TS_UNACCEPTABLE" in l and "10.99.0.2/32 === 10.99.0.1/32 in transport mode" in l
            and "(tunnel mode)" in l], lines


def test_esp_proposal_mismatch_keeps_ike_sa():
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    gcm = message.Proposal(1, const.PROTO_ESP, b"\x01\x02\x03\x04", [
        message.Transform(const.TRANS_ENCR, const.ENCR_AES_GCM_16, 128),
        message.Transform(const.TRANS_ESN, const.NO_ESN)])
    a = i.psk_auth(i.init_req, i.nr, i.keys.sk_pi, i.id_type, i.ident)
    req = i.request(const.IKE_AUTH, [message.IdI(i.id_type, i.ident),
                                     message.Auth(const.SHARED_KEY_MESSAGE_INTEGRITY_CODE, a),
                                     message.Sa([gcm]), message.TsI(P.selectors("10.10.1.0/24")),
                                     message.TsR(P.selectors("10.20.1.0/24"))])
    r.input(req, P.HQ_NATT, True)
    m, p = i.open(wan.pop()[0])
    assert const.NO_PROPOSAL_CHOSEN in P.notify_types(p) and not sad.sas
    i.check_auth(p)


def test_pfs_group_ignored_in_ike_auth_and_a_pfs_mismatch_named():
    # ESP configured with PFS: the first CHILD SA still comes up (no KE in IKE_AUTH, RFC 7296 1.2),
    # but a peer whose proposal lists other groups (or none of ours, or only NONE) would fail every
    # rekey: said at once. A peer that lists no groups in IKE_AUTH (strongSwan) says nothing of them.
    for ours, theirs, warned in ((["aes128-sha256-modp2048"], "aes128-sha256-ecp256", True),
                                 (["aes256-sha256", "aes128-sha256-modp2048"], "aes256-sha256-ecp256", True),
                                 (["aes128-sha256-modp2048"], "aes128-sha256-none", True),
                                 (["aes128-sha256-modp2048"], "aes128-sha256-modp2048", False),
                                 (["aes128-sha256-modp2048"], "aes128-sha256", False),
                                 (["aes256-sha256", "aes128-sha256-modp2048"], "aes256-sha256", False),
                                 (["aes256-sha256-ecp256-none"], "aes256-sha256-none", False)):
        r, wan, sad = P.rig(esp_proposals=ours)
        lines = P.capture()
        i, p = P.establish(r, wan, esp=theirs)
        log.set_output(None)
        assert len(sad.sas) == 1
        pfs = [x for x in P.warns(lines) if "PFS mismatch" in x]
        assert len(pfs) == (1 if warned else 0), (ours, theirs, lines)
        if warned:
            assert ("it offered %s" % theirs) in pfs[0] and "rekeys will fail" in pfs[0], pfs


def test_transport_mode_not_echoed_tfc_honoured():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan, extra=[message.Notify(0, b"", const.USE_TRANSPORT_MODE),
                                      message.Notify(0, b"", const.ESP_TFC_PADDING_NOT_SUPPORTED)])
    assert P.notify_types(p) == [] and len(sad.sas) == 1


def test_initial_contact_clears_old_sas():
    r, wan, sad = P.rig()
    old, p = P.establish(r, wan)
    assert len(sad.sas) == 1
    new, p = P.establish(r, wan, extra=[message.Notify(0, b"", const.INITIAL_CONTACT)])
    assert list(r.sas) == [new.spi_r] and len(sad.sas) == 1


def test_child_limit_no_additional_sas():
    r, wan, sad = P.rig(limits={"max_child_sas": 1})
    P.establish(r, wan)
    i, p = P.establish(r, wan)
    assert const.NO_ADDITIONAL_SAS in P.notify_types(p) and len(sad.sas) == 1
    i.check_auth(p)


def test_tampered_auth_request_dropped():
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    req = bytearray(i.auth())
    req[-1] ^= 1
    r.input(bytes(req), P.HQ_NATT, True)
    assert wan.sent == [] and r.sas[i.spi_r].state == sa_mod.HALF_OPEN
