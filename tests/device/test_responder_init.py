# IKE_SA_INIT on the responder (firmware/ike/init.py, responder.py) driven by a scripted initiator:
# selection, INVALID_KE_PAYLOAD, NAT detection, retransmits, IKEv1, critical payloads, cookies,
# limits and half-open expiry.
import time

import ike_peer as P
import log
from ike import const
from ike import message
from ike import sa as sa_mod


def init_error(r, wan, i, **kw):
    r.input(i.sa_init(**kw), i.remote, False)
    data, remote, natt = wan.pop()
    m = message.decode(data)
    assert m.is_response and m.spi_r == bytes(8) and m.msg_id == 0
    return m


def test_establishes_with_nat_detection():
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    data, remote, natt = wan.pop()
    assert remote == P.HQ and not natt
    m = i.init_response(data)
    assert m.spi_r != bytes(8)
    prop = m.get(message.Sa).proposals[0]
    assert [(t.type, t.id, t.keylen) for t in prop.transforms] == [
        (const.TRANS_ENCR, const.ENCR_AES_CBC, 256), (const.TRANS_PRF, const.PRF_HMAC_SHA2_256, None),
        (const.TRANS_INTEG, const.AUTH_HMAC_SHA2_256_128, None), (const.TRANS_DH, const.MODP_2048, None)]
    # NAT-D of the response: SHA-1(SPIi | SPIr | IP | port) of the peer's address as destination; as
    # source a hash of no address, so that the peer sees a NAT and encapsulates ESP (natt.py).
    src = m.notify(const.NAT_DETECTION_SOURCE_IP).data
    dst = m.notify(const.NAT_DETECTION_DESTINATION_IP).data
    assert len(src) == 20 and bytes(src) != P.nat_d(i.spi_i, m.spi_r, wan.local500)
    assert bytes(dst) == P.nat_d(i.spi_i, m.spi_r, P.HQ)
    s = r.sas[m.spi_r]
    assert s.state == sa_mod.HALF_OPEN and s.nat  # the initiator's NAT-D said "behind a NAT"


def test_encapsulation_forced_without_a_nat():
    # A peer whose NAT-D hashes match (no NAT on the path) still gets ESP in UDP: our SOURCE hash
    # matches no address of ours, fresh for each response, so the peer sees a NAT too.
    r, wan, sad = P.rig()
    lines = P.capture()
    i = P.Initiator()
    src = P.nat_d(i.spi_i, bytes(8), P.HQ)
    dst = P.nat_d(i.spi_i, bytes(8), wan.local500)
    req = i.sa_init(extra=[message.Notify(0, b"", const.NAT_DETECTION_SOURCE_IP, src),
                           message.Notify(0, b"", const.NAT_DETECTION_DESTINATION_IP, dst)], natd=False)
    r.input(req, P.HQ, False)
    m = i.init_response(wan.pop()[0])
    log.set_output(None)
    assert r.sas[m.spi_r].nat
    ours = bytes(m.notify(const.NAT_DETECTION_SOURCE_IP).data)
    assert ours not in (P.nat_d(i.spi_i, m.spi_r, wan.local500), P.nat_d(i.spi_i, m.spi_r, wan.local4500))
    assert [l for l in lines if "IKE_SA_INIT from" in l and "NAT detected" not in l], lines
    i2 = P.Initiator()
    r.input(i2.sa_init(), P.HQ, False)
    assert bytes(i2.init_response(wan.pop()[0]).notify(const.NAT_DETECTION_SOURCE_IP).data) != ours


def test_peer_without_nat_traversal_is_named():
    # No NAT-D at all: the peer would send plain ESP, which the device does not take.
    r, wan, sad = P.rig()
    lines = P.capture()
    i = P.Initiator()
    r.input(i.sa_init(natd=False), P.HQ, False)
    m = i.init_response(wan.pop()[0])
    log.set_output(None)
    assert not r.sas[m.spi_r].nat and m.notify(const.NAT_DETECTION_SOURCE_IP) is None
    assert [l for l in lines if "does not do NAT traversal" in l and "UDP 4500" in l], lines


def test_proposal_mismatch_names_both_sides():
    r, wan, sad = P.rig()
    lines = P.capture()
    i = P.Initiator(group=const.ECP_256)
    bad = message.Proposal(1, const.PROTO_IKE, b"", [
        message.Transform(const.TRANS_ENCR, const.ENCR_AES_GCM_16, 128),
        message.Transform(const.TRANS_PRF, const.PRF_HMAC_SHA2_256),
        message.Transform(const.TRANS_DH, const.ECP_384)])
    m = init_error(r, wan, i, proposals=[bad])
    assert m.notify(const.NO_PROPOSAL_CHOSEN) is not None
    log.set_output(None)
    assert [l for l in lines if "proposal mismatch" in l and "aes128gcm16-prfsha256-ecp384" in l
            and "aes256-sha256-modp2048" in l], lines
    assert not r.sas


def test_invalid_ke_names_our_group_then_retry_works():
    r, wan, sad = P.rig()
    i = P.Initiator(group=const.ECP_256)
    # Offers ecp256 first and modp2048; we accept only modp2048 (and x25519 with aes128).
    m = init_error(r, wan, i, proposals=[P.ike_proposal("aes256-sha256-ecp256-modp2048")])
    n = m.notify(const.INVALID_KE_PAYLOAD)
    assert n is not None and bytes(n.data) == b"\x00\x0e"
    assert not r.sas
    i2 = P.Initiator(group=const.MODP_2048)
    r.input(i2.sa_init(proposals=[P.ike_proposal("aes256-sha256-ecp256-modp2048")]), P.HQ, False)
    m = i2.init_response(wan.pop()[0])
    assert m.get(message.Ke).group == const.MODP_2048


def test_ke_group_preferred_when_acceptable():
    # The peer's KE is for x25519 which our second proposal takes: no INVALID_KE round trip.
    r, wan, sad = P.rig()
    i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    r.input(i.sa_init(), P.HQ, False)
    m = i.init_response(wan.pop()[0])
    assert m.get(message.Ke).group == const.CURVE25519


def test_retransmitted_init_gets_same_bytes():
    r, wan, sad = P.rig()
    i = P.Initiator()
    req = i.sa_init()
    r.input(req, P.HQ, False)
    first = wan.pop()[0]
    r.input(req, P.HQ, False)
    assert wan.pop()[0] == first
    assert len(r.sas) == 1


def test_ikev1_dropped_silently():
    r, wan, sad = P.rig()
    v1 = bytearray(P.Initiator().sa_init())
    v1[17] = 0x10
    r.input(bytes(v1), P.HQ, False)
    assert wan.sent == [] and r.counters["ikev1"] == 1


def test_major_version_3_answered():
    r, wan, sad = P.rig()
    v3 = bytearray(P.Initiator().sa_init())
    v3[17] = 0x30
    r.input(bytes(v3), P.HQ, False)
    m = message.decode(wan.pop()[0])
    assert m.notify(const.INVALID_MAJOR_VERSION) is not None


def test_unsupported_critical_payload():
    r, wan, sad = P.rig()
    i = P.Initiator()
    req = bytearray(i.sa_init())
    # Append an unknown critical payload (type 200) at the end of the chain.
    m = message.decode(bytes(req))
    last = 28
    while True:
        nxt = req[last]
        plen = (req[last + 2] << 8) | req[last + 3]
        if nxt == 0:
            break
        last += plen
    req[last] = 200
    req += bytes((0, 0x80, 0, 8, 1, 2, 3, 4))
    n = len(req)
    req[24:28] = bytes((n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255))
    r.input(bytes(req), P.HQ, False)
    m = message.decode(wan.pop()[0])
    n = m.notify(const.UNSUPPORTED_CRITICAL_PAYLOAD)
    assert n is not None and bytes(n.data) == b"\xc8"
    assert not r.sas


def test_missing_ke_invalid_syntax():
    r, wan, sad = P.rig()
    i = P.Initiator()
    m = message.decode(i.sa_init())
    m.payloads = [p for p in m.payloads if not isinstance(p, message.Ke)]
    r.input(m.encode(), P.HQ, False)
    assert message.decode(wan.pop()[0]).notify(const.INVALID_SYNTAX) is not None


def test_bad_dh_value_invalid_syntax():
    r, wan, sad = P.rig()
    i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    m = message.decode(i.sa_init())
    m.get(message.Ke).data = bytes(32)  # all-zero X25519 public value
    r.input(m.encode(), P.HQ, False)
    assert message.decode(wan.pop()[0]).notify(const.INVALID_SYNTAX) is not None
    assert not r.sas


def test_cookie_demanded_over_threshold_and_accepted():
    r, wan, sad = P.rig(limits={"cookie_threshold": 2, "max_half_open": 10})
    for _ in range(2):
        i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
        r.input(i.sa_init(), P.HQ, False)
        i.init_response(wan.pop()[0])
    assert r.half_open() == 2
    i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    m = init_error(r, wan, i)
    c = m.notify(const.COOKIE)
    assert c is not None and len(m.payloads) == 1
    assert r.half_open() == 2  # no state for the cookie-less request
    # A forged cookie is refused the same way; the real one gets through.
    i.cookie = bytes(17)
    assert init_error(r, wan, i).notify(const.COOKIE) is not None
    i.cookie = bytes(c.data)
    r.input(i.sa_init(), P.HQ, False)
    m = i.init_response(wan.pop()[0])
    assert m.spi_r in r.sas and r.half_open() == 3
    # The cookie is bound to the initiator's address.
    j = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    j.spi_i = i.spi_i
    j.ni = i.ni
    j.cookie = bytes(c.data)
    other = P.HQ_NATT
    r.input(j.sa_init(), other, False)
    assert message.decode(wan.pop()[0]).notify(const.COOKIE) is not None


def test_half_open_limit_temporary_failure():
    r, wan, sad = P.rig(limits={"cookie_threshold": 1, "max_half_open": 1})
    i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    j = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    c = init_error(r, wan, j).notify(const.COOKIE)
    j.cookie = bytes(c.data)
    assert init_error(r, wan, j).notify(const.TEMPORARY_FAILURE) is not None
    assert r.half_open() == 1


def test_ike_sa_limit_no_additional_sas():
    r, wan, sad = P.rig(limits={"max_ike_sas": 1})
    P.establish(r, wan)
    i = P.Initiator()
    assert init_error(r, wan, i).notify(const.NO_ADDITIONAL_SAS) is not None


def test_half_open_expires():
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    m = i.init_response(wan.pop()[0])
    s = r.sas[m.spi_r]
    r.tick()
    assert m.spi_r in r.sas
    s.created = time.ticks_add(time.ticks_ms(), -31000)
    r.tick()
    assert m.spi_r not in r.sas and not r.inits


def test_retransmit_after_establishment_not_reanswered():
    # Once the SA is up, a late copy of IKE_SA_INIT must not create anything new.
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    r.input(i.init_req, P.HQ, False)
    assert len(r.sas) == 1 and wan.sent == []


def test_per_address_cookie_and_block_thresholds():
    r, wan, sad = P.rig(limits={"cookie_threshold": 8, "cookie_threshold_ip": 1, "block_threshold": 2,
                                "max_half_open": 10})
    i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    # A second one from the same address must bring a cookie...
    j = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    c = init_error(r, wan, j).notify(const.COOKIE)
    assert c is not None
    j.cookie = bytes(c.data)
    r.input(j.sa_init(), P.HQ, False)
    j.init_response(wan.pop()[0])
    assert r.half_open() == 2
    # ...and at block_threshold the address gets no answer at all.
    k = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
    r.input(k.sa_init(), P.HQ, False)
    assert wan.sent == [] and r.half_open() == 2
    # Another address is not affected by the first one's count.
    other = P.addr.make(P.addr.parse_ip("10.99.0.7"), 500)
    r.input(k.sa_init(), other, False)
    k.init_response(wan.pop()[0])
    assert r.half_open() == 3
