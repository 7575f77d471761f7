# Group 19: 256-bit random ECP group, NIST P-256 (RFC 5903). The KE data is x | y (64 bytes, RFC 5903
# section 7) and the shared secret is the x coordinate of d*Q (32 bytes). The peer's point must have
# coordinates below p and satisfy the curve equation; the cofactor is 1, so that is a full validation.
# Points are kept in Jacobian coordinates (X, Y, Z) = (x*Z^2, y*Z^3) so only the final conversion inverts.
import os

from crypto.dh import DhError
from ike import const as ike_const

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def _double(x1, y1, z1):
    # dbl-2001-b (a = -3); the point at infinity (Z = 0) maps to itself
    p = _P
    delta = z1 * z1 % p
    gamma = y1 * y1 % p
    beta = x1 * gamma % p
    alpha = 3 * (x1 - delta) * (x1 + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return x3, y3, z3


def _add(x1, y1, z1, x2, y2, z2):
    # add-1998-cmo-2, with the special cases an unstructured scalar walk can hit
    if z1 == 0:
        return x2, y2, z2
    if z2 == 0:
        return x1, y1, z1
    p = _P
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if h == 0:
        if r == 0:
            return _double(x1, y1, z1)
        return 0, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = h * z1 * z2 % p
    return x3, y3, z3


def _mul(k, x, y):
    """k * (x, y) in affine coordinates, or None for the point at infinity. Fixed 4-bit window."""
    table = [None, (x, y, 1), _double(x, y, 1)]
    for i in range(3, 16):
        table.append(_add(*table[i - 1], x, y, 1))
    rx, ry, rz = 0, 1, 0
    for byte in k.to_bytes(32, "big"):  # windows are read from bytes: no big-int shift per window
        for w in (byte >> 4, byte & 15):
            for _ in range(4):
                rx, ry, rz = _double(rx, ry, rz)
            if w:
                rx, ry, rz = _add(rx, ry, rz, *table[w])
    if rz == 0:
        return None
    p = _P
    zi = pow(rz, p - 2, p)  # Fermat inverse (MicroPython's pow(z, -1, p) silently returns 0)
    zi2 = zi * zi % p
    return rx * zi2 % p, ry * zi2 * zi % p


def on_curve(x, y):
    p = _P
    return 0 <= x < p and 0 <= y < p and (y * y - (x * x * x - 3 * x + _B)) % p == 0


class Dh:
    group = ike_const.ECP_256

    def __init__(self, private=None, public=None):
        """private: the 32-byte big-endian scalar; by default uniform in [1, n-1]. public: its public
        value if known (crypto.dh keeps both between operations), else computed."""
        if private is not None:
            d = int.from_bytes(private, "big")
        else:
            d = 0
            while not 0 < d < _N:
                private = os.urandom(32)
                d = int.from_bytes(private, "big")
        self.private = private
        self._d = d
        if public is None:
            x, y = _mul(d, _GX, _GY)
            public = x.to_bytes(32, "big") + y.to_bytes(32, "big")
        self.public = public

    def shared(self, peer):
        x, y = check(peer)
        r = _mul(self._d, x, y)
        if r is None:
            raise DhError("ECP-256 shared secret is the point at infinity")
        return r[0].to_bytes(32, "big")


def check(peer):
    """The peer's point (x, y); DhError unless it is 64 bytes and on the curve (a full validation:
    the cofactor is 1)."""
    if len(peer) != 64:
        raise DhError("ECP-256 public value must be 64 bytes (x | y), got %d" % len(peer))
    x = int.from_bytes(peer[:32], "big")
    y = int.from_bytes(peer[32:], "big")
    if not on_curve(x, y):
        raise DhError("ECP-256 public value is not a point on the curve")
    return x, y
