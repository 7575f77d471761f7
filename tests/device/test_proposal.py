# ike/proposal.py and ike/selection.py on the sim board's runtime: parsing, refusals that name the
# keyword, selection rules (strongSwan's), the reply proposal on the wire, and describe().
from ike import const, message, proposal, selection

IKE = const.PROTO_IKE
ESP = const.PROTO_ESP
T = message.Transform


def raises(fn, *args):
    try:
        fn(*args)
    except proposal.ProposalError as e:
        return str(e)
    raise AssertionError("no ProposalError for %r" % (args,))


def ike_offer(num, encr, keylen, integ, prf, *groups):
    ts = [T(const.TRANS_ENCR, encr, keylen), T(const.TRANS_INTEG, integ), T(const.TRANS_PRF, prf)]
    ts.extend(T(const.TRANS_DH, g) for g in groups)
    return message.Proposal(num, IKE, b"", ts)


def esp_offer(num, spi, keylen, groups=(), esns=(const.NO_ESN,)):
    ts = [T(const.TRANS_ENCR, const.ENCR_AES_CBC, keylen), T(const.TRANS_INTEG, const.AUTH_HMAC_SHA2_256_128)]
    ts.extend(T(const.TRANS_DH, g) for g in groups)
    ts.extend(T(const.TRANS_ESN, e) for e in esns)
    return message.Proposal(num, ESP, spi, ts)


def test_parse_ike():
    s = proposal.parse("aes256-sha256-modp2048", IKE)
    assert s.encr == [(const.ENCR_AES_CBC, 256)]
    assert s.integ == [const.AUTH_HMAC_SHA2_256_128]
    assert s.prf == [const.PRF_HMAC_SHA2_256]  # derived from the integrity algorithm
    assert s.dh == [const.MODP_2048]
    assert proposal.parse("aes128-sha256-x25519", IKE).dh == [const.CURVE25519]
    assert proposal.parse("aes128-sha256-curve25519", IKE).dh == [const.CURVE25519]
    assert proposal.parse("aes192-sha256-ecp256", IKE).encr == [(const.ENCR_AES_CBC, 192)]
    assert proposal.parse("3des-sha256-modp2048", IKE).encr == [(const.ENCR_3DES, None)]
    s = proposal.parse(" aes256-aes128-sha256-prfsha256-x25519-ecp256-modp2048-x25519 ", IKE)
    assert s.encr == [(12, 256), (12, 128)]
    assert s.dh == [31, 19, 14]  # order kept, duplicate dropped
    assert proposal.parse("aes256-sha256-modp2048-none", IKE).dh == [14]  # strongSwan drops none in IKE


def test_parse_esp():
    s = proposal.parse("aes256-sha256", ESP)
    assert s.encr == [(12, 256)] and s.integ == [12]
    assert s.prf == [] and s.dh == [] and s.esn == [const.NO_ESN]
    s = proposal.parse("aes128-sha256-modp2048", ESP)
    assert s.dh == [14] and s.esn == [const.NO_ESN]
    assert proposal.parse("aes256-sha256-noesn", ESP).esn == [const.NO_ESN]
    assert proposal.parse("aes256-sha256-modp2048-none", ESP).dh == [14, 0]
    assert proposal.parse("aes256-sha256-prfsha256", ESP).prf == []  # ignored, as strongSwan does


def test_parse_refusals_name_the_keyword():
    assert raises(proposal.parse, "aes128gcm16-prfsha256-ecp384", IKE) == \
        "unsupported algorithm 'aes128gcm16' in ike_proposals"
    assert raises(proposal.parse, "aes256-sha1-modp2048", IKE) == "unsupported algorithm 'sha1' in ike_proposals"
    assert raises(proposal.parse, "aes256-sha256-ecp384", IKE) == "unsupported algorithm 'ecp384' in ike_proposals"
    assert raises(proposal.parse, "aes192-sha256", ESP) == "unsupported algorithm 'aes192' in esp_proposals"
    assert raises(proposal.parse, "3des-sha256", ESP) == "unsupported algorithm '3des' in esp_proposals"
    assert raises(proposal.parse, "aes256-sha256-modp2048-esn", IKE) == "unsupported algorithm 'esn' in ike_proposals"
    # The ESP engine's sequence numbers are 32 bits: an ESN SA would fail every ICV.
    assert raises(proposal.parse, "aes256-sha256-esn", ESP) == "unsupported algorithm 'esn' in esp_proposals"
    assert raises(proposal.parse, "aes256-sha256-esn-noesn", ESP) == "unsupported algorithm 'esn' in esp_proposals"
    assert raises(proposal.parse, "aes256-sha256-x25520", IKE) == "unknown algorithm 'x25520' in ike_proposals"
    assert "no DH group" in raises(proposal.parse, "aes256-sha256", IKE)
    assert "no integrity" in raises(proposal.parse, "aes256-modp2048", IKE)
    assert "no encryption" in raises(proposal.parse, "sha256-modp2048", IKE)
    assert "empty algorithm" in raises(proposal.parse, "aes256--sha256", ESP)


def test_parse_list():
    specs = proposal.parse_list("aes256-sha256-modp2048, aes128-sha256-x25519", IKE)
    assert [str(s) for s in specs] == ["aes256-sha256-modp2048", "aes128-sha256-curve25519"]
    specs = proposal.parse_list(["aes128-sha256", "default"], ESP)
    assert [str(s) for s in specs] == ["aes128-sha256"] + proposal.DEFAULT_ESP
    assert proposal.parse_list("default", IKE)[0].dh == [const.CURVE25519, const.ECP_256, const.MODP_2048]
    assert "is empty" in raises(proposal.parse_list, [], ESP)
    assert "unsupported algorithm 'aes128gcm16'" in raises(proposal.parse_list, "aes256-sha256,aes128gcm16", ESP)


def test_select_prefers_our_order():
    ours = proposal.parse_list("aes128-sha256-ecp256, aes256-sha256-modp2048", IKE)
    offered = [ike_offer(1, 12, 256, 12, 5, 14), ike_offer(2, 12, 128, 12, 5, 19)]
    c = selection.select(ours, offered, IKE)
    assert (c.proposal_num, c.encr, c.keylen, c.integ, c.prf, c.dh) == (2, 12, 128, 12, 5, 19)
    # within one proposal too: our algorithm order wins over the peer's
    ours = proposal.parse_list("aes256-aes128-sha256-x25519-modp2048", IKE)
    c = selection.select(ours, [ike_offer(7, 12, 128, 12, 5, 14, 31)], IKE)
    assert (c.proposal_num, c.keylen, c.dh, c.esn) == (7, 128, 31, False)


def test_select_prefers_the_peers_ke_group_when_acceptable():
    ours = proposal.parse_list("aes256-sha256-x25519-ecp256-modp2048", IKE)
    offered = [ike_offer(1, 12, 256, 12, 5, 14, 19, 31)]
    assert selection.select(ours, offered, IKE, ke_group=14).dh == 14
    assert selection.select(ours, offered, IKE, ke_group=20).dh == 31  # not acceptable: ours
    assert selection.select(ours, offered, IKE).dh == 31


def test_select_mismatches():
    ours = proposal.parse_list("aes256-sha256-modp2048", IKE)
    assert selection.select(ours, [ike_offer(1, 12, 128, 12, 5, 14)], IKE) is None  # key length
    assert selection.select(ours, [ike_offer(1, 12, None, 12, 5, 14)], IKE) is None  # no key length
    assert selection.select(ours, [ike_offer(1, 12, -1, 12, 5, 14)], IKE) is None  # unknown attribute
    assert selection.select(ours, [ike_offer(1, 12, 256, 12, 2, 14)], IKE) is None  # prf
    assert selection.select(ours, [ike_offer(1, 12, 256, 12, 5, 20)], IKE) is None  # group
    aead = message.Proposal(1, IKE, b"", [T(1, const.ENCR_AES_GCM_16, 256), T(2, 5), T(4, 14)])
    assert selection.select(ours, [aead], IKE) is None
    assert selection.select(ours, [esp_offer(1, b"abcd", 256)], IKE) is None  # protocol
    # an unknown transform type: no match; an additional key exchange (RFC 9370) the peer lets us skip: match
    p = ike_offer(1, 12, 256, 12, 5, 14)
    p.transforms.append(T(200, 1))
    assert selection.select(ours, [p], IKE) is None
    p = ike_offer(1, 12, 256, 12, 5, 14)
    p.transforms.append(T(6, 36))
    assert selection.select(ours, [p], IKE) is None
    p.transforms.append(T(6, 0))
    assert selection.select(ours, [p], IKE).dh == 14


def test_select_esp_pfs_rules():
    no_pfs = proposal.parse_list("aes256-sha256", ESP)
    pfs = proposal.parse_list("aes256-sha256-modp2048", ESP)
    pfs_optional = proposal.parse_list("aes256-sha256-modp2048-none", ESP)
    spi = b"\x01\x02\x03\x04"
    c = selection.select(no_pfs, [esp_offer(3, spi, 256)], ESP)
    assert (c.proposal_num, c.spi, c.encr, c.keylen, c.integ, c.prf, c.dh, c.esn) == \
        (3, spi, 12, 256, 12, None, None, False)
    assert selection.select(no_pfs, [esp_offer(1, spi, 256, (14,))], ESP) is None  # peer demands PFS
    assert selection.select(no_pfs, [esp_offer(1, spi, 256, (14, 0))], ESP).dh is None
    assert selection.select(pfs, [esp_offer(1, spi, 256)], ESP) is None  # we demand PFS
    assert selection.select(pfs, [esp_offer(1, spi, 256, (19, 14))], ESP).dh == 14
    assert selection.select(pfs_optional, [esp_offer(1, spi, 256)], ESP).dh is None
    # IKE_AUTH's CHILD SA has no KE: DH transforms are ignored on both sides
    assert selection.select(pfs, [esp_offer(1, spi, 256)], ESP, skip_dh=True).dh is None
    assert selection.select(pfs, [esp_offer(1, spi, 256, (14,))], ESP, skip_dh=True).dh is None


def test_select_esp_esn():
    spi = b"\x01\x02\x03\x04"
    offer = [esp_offer(1, spi, 128, (), (const.ESN, const.NO_ESN))]
    assert selection.select(proposal.parse_list("aes128-sha256", ESP), offer, ESP).esn is False
    only_esn = [esp_offer(1, spi, 128, (), (const.ESN,))]
    assert selection.select(proposal.parse_list("aes128-sha256", ESP), only_esn, ESP) is None
    no_esn_transform = [esp_offer(1, spi, 128, (), ())]  # RFC 7296 requires one for ESP
    assert selection.select(proposal.parse_list("aes128-sha256", ESP), no_esn_transform, ESP) is None


def test_reply_proposal_on_the_wire():
    ours = proposal.parse_list("aes256-sha256-modp2048", ESP)
    c = selection.select(ours, [esp_offer(2, b"\xaa\xbb\xcc\xdd", 256, (14,))], ESP)
    first, body = message.encode_payloads([message.Sa([c.to_payload_proposal(b"\x11\x22\x33\x44")])])
    payloads, crit = message.decode_payloads(first, body)
    p = payloads[0].proposals[0]
    assert (p.num, p.protocol, p.spi) == (2, ESP, b"\x11\x22\x33\x44")
    got = [(t.type, t.id, t.keylen) for t in p.transforms]
    assert got == [(1, 12, 256), (3, 12, None), (4, 14, None), (5, 0, None)]
    assert proposal.describe(p) == "aes256-sha256-modp2048" == str(c)
    ike = selection.select(proposal.parse_list("3des-sha256-x25519", IKE), [ike_offer(1, 3, None, 12, 5, 31)], IKE)
    p = ike.to_payload_proposal()
    assert p.spi == b"" and [(t.type, t.id, t.keylen) for t in p.transforms] == \
        [(1, 3, None), (2, 5, None), (3, 12, None), (4, 31, None)]


def test_describe():
    p = message.Proposal(1, IKE, b"", [T(1, const.ENCR_AES_GCM_16, 128), T(2, 5), T(4, 20)])
    assert proposal.describe(p) == "aes128gcm16-prfsha256-ecp384"
    p = ike_offer(1, 12, 256, 12, 5, 14, 31)
    assert proposal.describe(p) == "aes256-sha256-modp2048-curve25519"  # prfsha256 implied
    p = ike_offer(1, 12, 256, 12, 7, 14)
    assert proposal.describe(p) == "aes256-sha256-prfsha512-modp2048"  # not implied: shown
    odd = message.Proposal(1, IKE, b"", [T(1, 12345), T(1, 12, -1), T(1, 3, 192), T(3, 999), T(2, 77),
                                         T(4, 4242), T(200, 3), T(7, 36)])
    assert proposal.describe(odd) == \
        "ENCR_12345-ENCR_12_BADATTR-ENCR_3_192-INTEG_999-PRF_77-DH_4242-TRANS200_3-ke2_DH_36"
    esp = esp_offer(1, b"abcd", 128, (0,), (const.ESN, const.NO_ESN))
    assert proposal.describe(esp) == "aes128-sha256-none-esn-noesn"
    assert proposal.describe_proposals([esp, esp_offer(2, b"abcd", 256)]) == \
        "aes128-sha256-none-esn-noesn, aes256-sha256"
