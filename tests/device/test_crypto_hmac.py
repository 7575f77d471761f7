# ct, HMAC-SHA-256 and prf+ against RFC 4868 / RFC 4231 and CAVP vectors, under MicroPython.
from crypto import ct
from crypto.hmac import HmacSha256, hmac_sha256
from crypto.prf import prf_plus

import vectors_crypto as v

h = bytes.fromhex


def test_ct_eq():
    assert ct.eq(b"", b"")
    assert ct.eq(b"abc", bytearray(b"abc"))
    assert ct.eq(memoryview(b"xabc")[1:], b"abc")
    assert not ct.eq(b"abc", b"abd")
    assert not ct.eq(b"\x00abc", b"\x01abc")
    assert not ct.eq(b"abc", b"abcd")
    assert not ct.eq(b"abcd", b"abc")


def test_rfc4868_prf_hmac_sha256():
    for key, data, out in v.PRF_HMAC_SHA256:
        assert HmacSha256(h(key)).mac(h(data)) == h(out), out
        assert hmac_sha256(h(key), h(data)) == h(out)


def test_rfc4868_auth_hmac_sha256_128():
    for key, data, prf_out, icv in v.AUTH_HMAC_SHA256_128:
        mac = HmacSha256(h(key)).mac(h(data))
        assert mac == h(prf_out)
        assert mac[:16] == h(icv)


def test_hmac_parts_are_concatenated_and_key_reusable():
    key, data, out = v.PRF_HMAC_SHA256[5]
    m = HmacSha256(h(key))
    d = h(data)
    buf = bytearray(d)
    # any split into bytes / bytearray / memoryview pieces gives the same MAC, and the object is reusable
    assert m.mac(d[:7], bytearray(d[7:70]), memoryview(buf)[70:]) == h(out)
    assert m.mac(b"", d, b"") == h(out)
    assert m.mac(d) == h(out)
    assert len(m.mac()) == 32


def test_prf_plus_vectors():
    for key, seed, out in v.KDF_PRF_PLUS:
        o = h(out)
        assert prf_plus(HmacSha256(h(key)), h(seed), len(o)) == o
        # a shorter request is a prefix of the longer stream
        assert prf_plus(HmacSha256(h(key)), h(seed), 33) == o[:33]


def test_prf_plus_length_limit():
    m = HmacSha256(b"k")
    assert len(prf_plus(m, b"s", 255 * 32)) == 255 * 32
    try:
        prf_plus(m, b"s", 255 * 32 + 1)
    except ValueError:
        return
    raise AssertionError("prf+ beyond 255 blocks must fail")
