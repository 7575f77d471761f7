# Group 31: X25519 (RFC 7748 section 5) as used by IKEv2 (RFC 8031): public values and the shared
# secret are 32 bytes little-endian; an all-zero shared secret (a low-order peer point) is rejected.
import os

from crypto.dh import DhError
from ike import const as ike_const

_P = 2**255 - 19
_A24 = 121665  # (486662 - 2) / 4
_BASE = b"\x09" + bytes(31)


def x25519(k, u):
    """X25519(k, u) for 32-byte strings: decode (clamp k, mask the top bit of u), Montgomery ladder,
    encode. Non-canonical u (>= p) is reduced, as RFC 7748 requires."""
    p = _P
    n = bytearray(k)  # scalar bits are read from bytes: no big-int shift per ladder step
    n[0] &= 248
    n[31] = (n[31] & 127) | 64
    x1 = (int.from_bytes(u, "little") & ((1 << 255) - 1)) % p
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (n[t >> 3] >> (t & 7)) & 1
        if swap ^ bit:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        a = x2 + z2
        aa = a * a % p
        b = x2 - z2
        bb = b * b % p
        e = aa - bb
        da = (x3 - z3) * a % p
        cb = (x3 + z3) * b % p
        x3 = da + cb
        x3 = x3 * x3 % p
        z3 = da - cb
        z3 = x1 * (z3 * z3 % p) % p
        x2 = aa * bb % p
        z2 = e * (aa + _A24 * e) % p
    if swap:
        x2, z2 = x3, z3
    # z2^(p-2) is the inverse by Fermat (MicroPython's pow(z, -1, p) silently returns 0)
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(32, "little")


class Dh:
    group = ike_const.CURVE25519

    def __init__(self, private=None, public=None):
        """private: the 32-byte scalar; by default 32 random bytes, clamped by x25519(). public: its
        public value if known (crypto.dh keeps both between operations), else computed."""
        self.private = private if private is not None else os.urandom(32)
        self.public = x25519(self.private, _BASE) if public is None else public

    def shared(self, peer):
        check(peer)
        s = x25519(self.private, peer)
        if s == bytes(32):  # the last word, if a low-order value were missing from _LOW_ORDER
            raise DhError("Curve25519 shared secret is all zero (low-order public value)")
        return s


# The u-coordinates (mod p) of the points of order 1, 2, 4 and 8 on the curve and its twist: with a
# clamped scalar (a multiple of 8) each gives the all-zero secret that RFC 7748 section 6.1 rejects.
_LOW_ORDER = (0, 1, _P - 1,
              0x00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0,
              0x57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5f)


def check(peer):
    """DhError unless the peer's value is 32 bytes and not a low-order point: what is known before
    the ladder runs."""
    if len(peer) != 32:
        raise DhError("Curve25519 public value must be 32 bytes, got %d" % len(peer))
    if (int.from_bytes(peer, "little") & ((1 << 255) - 1)) % _P in _LOW_ORDER:
        raise DhError("Curve25519 public value is a low-order point")
