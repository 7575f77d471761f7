"""Property tests (CPython, hypothesis): every firmware crypto primitive against an independent
implementation (`cryptography`, the stdlib `hmac`, straightforward RFC 7296 formulas), and the
tests/shims/cryptolib.py stand-in against the real MicroPython cryptolib."""
import hashlib
import hmac as std_hmac
import os

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.asymmetric import dh as c_dh
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import x25519 as c_x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto import cipher, ct, dh, modp, p256, x25519
from crypto.dh import DhError
from crypto.hmac import HmacSha256, hmac_sha256
from crypto.prf import prf_plus
from ike import const, keys
from mp import run_mp_code

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
blocks16 = st.integers(0, 12).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n))
blocks8 = st.integers(0, 12).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n))


# ---- symmetric ciphers -------------------------------------------------------------------------

@given(st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       st.binary(min_size=16, max_size=16), blocks16)
def test_aes_cbc_matches_cryptography(key, iv, data):
    ref = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor().update(data)
    c = cipher.new(const.ENCR_AES_CBC, key)
    assert c.encrypt(iv, data) == ref
    assert c.decrypt(iv, ref) == data


@given(st.binary(min_size=24, max_size=24), st.binary(min_size=8, max_size=8), blocks8)
def test_3des_cbc_matches_cryptography(key, iv, data):
    ref = Cipher(TripleDES(key), modes.CBC(iv)).encryptor().update(data)
    c = cipher.new(const.ENCR_3DES, key)
    assert c.encrypt(iv, data) == ref
    assert c.decrypt(iv, ref) == data


# ---- HMAC, prf+, key schedule ------------------------------------------------------------------

@given(st.binary(max_size=200), st.lists(st.binary(max_size=100), max_size=5))
def test_hmac_matches_stdlib(key, parts):
    ref = std_hmac.new(key, b"".join(parts), hashlib.sha256).digest()
    assert HmacSha256(key).mac(*parts) == ref
    assert hmac_sha256(key, *[memoryview(bytearray(p)) for p in parts]) == ref


def ref_prf_plus(key, seed, length):
    # RFC 7296 2.13 written out directly on the stdlib hmac
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = std_hmac.new(key, t + seed + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


@given(st.binary(min_size=1, max_size=80), st.binary(max_size=600), st.integers(0, 600))
def test_prf_plus_matches_reference(key, seed, length):
    assert prf_plus(HmacSha256(key), seed, length) == ref_prf_plus(key, seed, length)


nonce = st.binary(min_size=16, max_size=256)
spi = st.binary(min_size=8, max_size=8)


@given(nonce, nonce, st.binary(min_size=32, max_size=256), spi, spi, st.sampled_from([16, 24, 32]))
def test_ike_keys_match_rfc7296_formulas(ni, nr, gir, spi_i, spi_r, enc):
    seed = std_hmac.new(ni + nr, gir, hashlib.sha256).digest()
    assert keys.skeyseed(ni, nr, gir) == seed
    km = ref_prf_plus(seed, ni + nr + spi_i + spi_r, 3 * 32 + 2 * 32 + 2 * enc)
    k = keys.ike_keys(seed, ni, nr, spi_i, spi_r, enc)
    want, o = [], 0
    for n in (32, 32, 32, enc, enc, 32, 32):
        want.append(km[o:o + n])
        o += n
    assert [k.sk_d, k.sk_ai, k.sk_ar, k.sk_ei, k.sk_er, k.sk_pi, k.sk_pr] == want
    new_gir = os.urandom(32)
    assert keys.rekey_skeyseed(k.sk_d, new_gir, ni, nr) == std_hmac.new(
        k.sk_d, new_gir + ni + nr, hashlib.sha256).digest()


@given(st.binary(min_size=32, max_size=32), nonce, nonce, st.sampled_from([16, 24, 32]),
       st.one_of(st.none(), st.binary(min_size=32, max_size=256)))
def test_child_keymat_matches_rfc7296_formula(sk_d, ni, nr, enc, gir):
    km = ref_prf_plus(sk_d, (gir or b"") + ni + nr, 2 * (enc + 32))
    got = keys.child_keymat(sk_d, ni, nr, enc, 32, gir=gir)
    assert got == (km[:enc], km[enc:enc + 32], km[enc + 32:2 * enc + 32], km[2 * enc + 32:])


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_ct_eq_matches_equality(a, b):
    assert ct.eq(a, b) == (a == b)
    assert ct.eq(a, bytearray(a))


# ---- Diffie-Hellman ----------------------------------------------------------------------------

@SLOW
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_x25519_matches_cryptography(k, peer_k):
    ours = x25519.Dh(k)
    ref = c_x25519.X25519PrivateKey.from_private_bytes(k)
    assert ours.public == ref.public_key().public_bytes_raw()
    peer = c_x25519.X25519PrivateKey.from_private_bytes(peer_k)
    shared = ours.shared(peer.public_key().public_bytes_raw())
    assert shared == ref.exchange(peer.public_key()) == peer.exchange(ref.public_key())


@SLOW
@given(st.binary(min_size=32, max_size=32))
def test_x25519_any_peer_bytes(u):
    # every 32-byte string is a u-coordinate (RFC 7748: mask the top bit, reduce non-canonical values)
    ref = c_x25519.X25519PrivateKey.generate()
    k = ref.private_bytes_raw()
    try:
        want = ref.exchange(c_x25519.X25519PublicKey.from_public_bytes(u))
    except ValueError:  # cryptography refuses an all-zero result
        with pytest.raises(DhError):
            x25519.Dh(k).shared(u)
        return
    assert x25519.Dh(k).shared(u) == want


def test_x25519_low_order_list_is_what_cryptography_refuses():
    # x25519.check refuses a peer value before the ladder runs (the responder answers IKE_SA_INIT
    # first): exactly the values whose secret is all zero, in every encoding (+p, top bit set).
    ref = c_x25519.X25519PrivateKey.generate()
    p = (1 << 255) - 19
    candidates = set()
    for u in x25519._LOW_ORDER + (2, 9, p - 2):
        for v in (u, u + p, u | 1 << 255, (u + p) | 1 << 255):
            if v < 1 << 256:
                candidates.add(v)
    for v in sorted(candidates):
        u = v.to_bytes(32, "little")
        try:
            ref.exchange(c_x25519.X25519PublicKey.from_public_bytes(u))
            refused = False
        except ValueError:
            refused = True
        try:
            x25519.check(u)
            checked = False
        except DhError:
            checked = True
        assert refused == checked, hex(v)


def _ec_key(d):
    return ec.derive_private_key(d, ec.SECP256R1())


def _ec_pub(key):
    n = key.public_key().public_numbers()
    return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")


N256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@SLOW
@given(st.integers(1, N256 - 1), st.integers(1, N256 - 1))
def test_p256_matches_cryptography(d, e):
    ours = p256.Dh(d.to_bytes(32, "big"))
    ref = _ec_key(d)
    assert ours.public == _ec_pub(ref)
    peer = _ec_key(e)
    assert ours.shared(_ec_pub(peer)) == peer.exchange(ec.ECDH(), ref.public_key())


@SLOW
@given(st.binary(min_size=64, max_size=64))
def test_p256_peer_validation_matches_cryptography(raw):
    ours = dh.new(const.ECP_256)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError:
        with pytest.raises(DhError):
            ours.shared(raw)
        return
    assert len(ours.shared(raw)) == 32


def test_p256_small_multiples_match_cryptography():
    # exercises the doubling and "same point" branches of the addition: k*G for small k and n-k
    g = p256.Dh((1).to_bytes(32, "big"))
    for k in list(range(1, 40)) + [N256 - 1, N256 - 2, N256 - 15]:
        assert p256.Dh(k.to_bytes(32, "big")).public == _ec_pub(_ec_key(k)), k
        assert g.shared(_ec_pub(_ec_key(k))) == _ec_pub(_ec_key(k))[:32]


def _pi_bits(bits):
    # floor(pi * 2^bits) by Machin's formula in integers, with guard bits
    one = 1 << (bits + 64)

    def arctan_inv(x):
        total, term, n, sign = 0, one // x, 1, 1
        while term:
            total += sign * (term // n)
            term //= x * x
            n += 2
            sign = -sign
        return total

    return (4 * (4 * arctan_inv(5) - arctan_inv(239))) >> 64


def test_modp2048_prime_is_rfc3526():
    # RFC 3526 section 3: p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }
    p = 2**2048 - 2**1984 - 1 + 2**64 * (_pi_bits(1918) + 124476)
    assert modp.P == p
    assert modp.G == 2


MODP_PARAMS = c_dh.DHParameterNumbers(modp.P, 2)


@SLOW
@given(st.binary(min_size=32, max_size=32))
def test_modp2048_matches_cryptography(x):
    xi = int.from_bytes(x, "big")
    assume(xi >= 2)
    ours = modp.Dh(x)
    assert ours.public == pow(2, xi, modp.P).to_bytes(256, "big")
    peer = MODP_PARAMS.parameters().generate_private_key()
    y = peer.public_key().public_numbers().y
    shared = ours.shared(y.to_bytes(256, "big"))
    me = c_dh.DHPrivateNumbers(xi, c_dh.DHPublicNumbers(int.from_bytes(ours.public, "big"), MODP_PARAMS))
    assert shared == peer.exchange(me.private_key().public_key()).rjust(256, b"\0")


def test_new_private_values_are_random_and_in_range():
    for _ in range(5):
        d = dh.new(const.MODP_2048)
        assert 2 <= int.from_bytes(d.private, "big") < 1 << 256
        e = dh.new(const.ECP_256)
        assert 0 < int.from_bytes(e.private, "big") < N256
    assert len({dh.new(const.CURVE25519).public for _ in range(5)}) == 5


# ---- the cryptolib shim against MicroPython's cryptolib ----------------------------------------

CRYPTOLIB_SCRIPT = r'''
import cryptolib

def show(label, f):
    try:
        r = f()
        print(label, "ok", bytes(r).hex() if r is not None else None)
    except Exception as e:
        print(label, type(e).__name__, e.args)

k16 = bytes(range(16)); k32 = bytes(range(32)); iv = bytes(range(100, 116))
data = bytes(range(64))
show("ecb", lambda: cryptolib.aes(k16, 1).encrypt(data))
show("cbc16", lambda: cryptolib.aes(k16, 2, iv).encrypt(data))
show("cbc32", lambda: cryptolib.aes(k32, 2, iv).encrypt(data))
a = cryptolib.aes(k32, 2, iv)
show("chain1", lambda: a.encrypt(data[:32]))
show("chain2", lambda: a.encrypt(data[32:]))
show("mixed", lambda: a.decrypt(data[:16]))
d = cryptolib.aes(k32, 2, iv)
show("dec", lambda: d.decrypt(cryptolib.aes(k32, 2, iv).encrypt(data)))
buf = bytearray(data); mv = memoryview(buf)
e = cryptolib.aes(k16, 2, iv)
show("inplace_ret", lambda: e.encrypt(mv, mv))
print("inplace_buf", bytes(buf).hex())
out = bytearray(80)
show("out_bigger", lambda: cryptolib.aes(k16, 2, iv).encrypt(data, out))
print("out_bigger_buf", bytes(out).hex())
show("out_small", lambda: cryptolib.aes(k16, 2, iv).encrypt(data, bytearray(32)))
show("out_bytes", lambda: cryptolib.aes(k16, 2, iv).encrypt(data, bytes(64)))
show("partial", lambda: cryptolib.aes(k16, 2, iv).encrypt(data[:15]))
show("empty", lambda: cryptolib.aes(k16, 2, iv).encrypt(b""))
show("key24", lambda: cryptolib.aes(bytes(24), 2, iv))
show("mode3", lambda: cryptolib.aes(k16, 3, iv))
show("noiv", lambda: cryptolib.aes(k16, 2))
show("iv8", lambda: cryptolib.aes(k16, 2, bytes(8)))
show("iv17", lambda: cryptolib.aes(k16, 2, bytes(17)))
show("ecb_iv", lambda: cryptolib.aes(k16, 1, iv).encrypt(data))
show("key0", lambda: cryptolib.aes(b"", 1))
show("ecb_dec", lambda: cryptolib.aes(k16, 1).decrypt(cryptolib.aes(k16, 1).encrypt(data)))
show("bytearray_key", lambda: cryptolib.aes(bytearray(k16), 2, bytearray(iv)).encrypt(data))
'''


def test_cryptolib_shim_matches_micropython(capsys):
    mp_out = run_mp_code(CRYPTOLIB_SCRIPT)
    exec(compile(CRYPTOLIB_SCRIPT, "cryptolib_script", "exec"), {})
    shim_out = capsys.readouterr().out
    assert shim_out == mp_out
    # and the answers are AES-CBC, not just consistent
    ref = Cipher(algorithms.AES(bytes(range(32))), modes.CBC(bytes(range(100, 116)))).encryptor()
    assert "cbc32 ok " + ref.update(bytes(range(64))).hex() in mp_out
