# Diffie-Hellman groups 14/19/31 against RFC 7748, RFC 8031, RFC 5903 and strongSwan's MODP-2048 vector, and
# rejection of invalid peer values, under MicroPython.
from crypto import dh, modp, p256, x25519
from crypto.dh import DhError
from ike import const

import vectors_crypto as v

h = bytes.fromhex


def _rejects(d, peer):
    try:
        d.shared(peer)
    except DhError as e:
        assert str(e)
        return
    raise AssertionError("accepted invalid public value %r" % bytes(peer))


def test_x25519_rfc7748_5_2():
    for k, u, out in v.X25519_52:
        assert x25519.x25519(h(k), h(u)) == h(out)


def test_x25519_rfc7748_5_2_iterated():
    k = u = b"\x09" + bytes(31)
    done = 0
    for n, expect in v.X25519_ITER:
        while done < n:
            k, u = x25519.x25519(k, u), k
            done += 1
        assert k == h(expect), n


def test_x25519_rfc7748_6_1():
    a = x25519.Dh(h(v.X25519_61_A))
    b = x25519.Dh(h(v.X25519_61_B))
    assert a.public == h(v.X25519_61_A_PUB)
    assert b.public == h(v.X25519_61_B_PUB)
    assert a.shared(b.public) == h(v.X25519_61_K)
    assert b.shared(a.public) == h(v.X25519_61_K)


def test_x25519_rfc8031_appendix_a():
    i = x25519.Dh(h(v.X25519_8031_RANDOM_I))
    r = x25519.Dh(h(v.X25519_8031_RANDOM_R))
    assert i.public == h(v.X25519_8031_PUBLIC_I)
    assert r.public == h(v.X25519_8031_PUBLIC_R)
    assert i.shared(r.public) == r.shared(i.public) == h(v.X25519_8031_SHARED)


def test_x25519_rejects_low_order_and_bad_length():
    d = dh.new(const.CURVE25519)
    for u in v.X25519_LOW_ORDER:
        _rejects(d, h(u))
    _rejects(d, bytes(31))
    _rejects(d, b"\x09" + bytes(32))
    _rejects(d, b"")


def test_ecp256_rfc5903_8_1():
    i = p256.Dh(h(v.ECP256_I))
    r = p256.Dh(h(v.ECP256_R))
    assert i.public == h(v.ECP256_GI)
    assert r.public == h(v.ECP256_GR)
    assert i.shared(r.public) == h(v.ECP256_GIR)
    assert r.shared(i.public) == h(v.ECP256_GIR)


def test_ecp256_rejects_invalid_points():
    d = dh.new(const.ECP_256)
    gr = h(v.ECP256_GR)
    pp = b"\xff\xff\xff\xff\x00\x00\x00\x01" + bytes(12) + b"\xff" * 12  # p, big-endian
    _rejects(d, gr[:32] + bytes([gr[32] ^ 1]) + gr[33:])  # y changed: off the curve
    _rejects(d, bytes(64))  # (0, 0) is not on the curve
    _rejects(d, b"\x04" + gr)  # the SEC1 prefix is not part of the IKE encoding
    _rejects(d, gr[:32])
    _rejects(d, pp + gr[32:])  # x = p: out of range
    _rejects(d, gr[:32] + pp)  # y = p
    _rejects(d, b"\xff" * 64)


def test_modp2048_strongswan_vector():
    i = modp.Dh(h(v.MODP2048_XI))
    r = modp.Dh(h(v.MODP2048_XR))
    assert i.public == h(v.MODP2048_PUB_I)
    assert r.public == h(v.MODP2048_PUB_R)
    assert i.shared(r.public) == h(v.MODP2048_SHARED)
    assert r.shared(i.public) == h(v.MODP2048_SHARED)


def test_modp2048_rejects_out_of_range():
    d = dh.new(const.MODP_2048)
    p = modp.P
    for y in (0, 1, p - 1, p, p + 1, (1 << 2048) - 1):
        _rejects(d, y.to_bytes(256, "big"))
    _rejects(d, bytes(255))
    _rejects(d, b"\x02")
    _rejects(d, bytes(256) + b"\x02")


def test_new_key_pairs_agree_and_are_fresh():
    assert dh.SUPPORTED == (const.MODP_2048, const.ECP_256, const.CURVE25519)
    sizes = {const.MODP_2048: (256, 256), const.ECP_256: (64, 32), const.CURVE25519: (32, 32)}
    for g in dh.SUPPORTED:
        a = dh.new(g)
        b = dh.new(g)
        assert a.group == g
        assert a.public != b.public
        assert len(a.public) == sizes[g][0]
        s = a.shared(b.public)
        assert len(s) == sizes[g][1]
        assert s == b.shared(a.public)


def test_unsupported_group():
    for g in (0, const.MODP_1024, const.ECP_384, const.CURVE448):
        try:
            dh.new(g)
        except DhError:
            continue
        raise AssertionError("group %d accepted" % g)


def test_ecp256_rejects_unreduced_coordinate():
    # a curve point with a small x: (x, y) is accepted, (x + p, y) names the same point but is out of range
    p = int.from_bytes(b"\xff\xff\xff\xff\x00\x00\x00\x01" + bytes(12) + b"\xff" * 12, "big")
    b = int.from_bytes(h(v.ECP256_B), "big")
    x = 0
    while True:
        x += 1
        rhs = (x * x * x - 3 * x + b) % p
        y = pow(rhs, (p + 1) // 4, p)  # p = 3 mod 4: a square root if rhs is a square
        if y * y % p == rhs:
            break
    d = dh.new(const.ECP_256)
    assert len(d.shared(x.to_bytes(32, "big") + y.to_bytes(32, "big"))) == 32
    _rejects(d, (x + p).to_bytes(32, "big") + y.to_bytes(32, "big"))
    _rejects(d, x.to_bytes(32, "big") + (y + 1).to_bytes(32, "big"))


def test_key_pairs_keep_no_group_code():
    # The responder keeps a key pair between handshakes: it must hold bytes, not an object of the
    # group's class (which would keep that module's code and constants in the heap), and each
    # operation unloads the group module it loaded.
    import sys
    import crypto
    names = ("crypto.modp", "crypto.p256", "crypto.x25519")
    saved = {n: sys.modules.pop(n) for n in names}  # as on the board: none loaded
    for n in names:
        delattr(crypto, n[7:])
    try:
        for g in dh.SUPPORTED:
            a = dh.new(g)
            b = dh.new(g)
            assert a.shared(b.public) == b.shared(a.public)
            assert type(a) is dh.KeyPair and a.group == g
            assert type(a.public) is bytes and type(a.private) is bytes
            for n in names:
                assert n not in sys.modules and not hasattr(crypto, n[7:]), n
    finally:
        sys.modules.update(saved)
        for n, m in saved.items():
            setattr(crypto, n[7:], m)
