# prf+ (RFC 7296 section 2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), output T1 | T2 | ...
from crypto.hmac import DIGEST


def prf_plus(prf, seed, length):
    """`length` bytes of prf+ keyed by `prf` (an HmacSha256) over `seed`."""
    if length > 255 * DIGEST:
        # the counter is one octet, so prf+ is defined for at most 255 iterations
        raise ValueError("prf+ output too long")
    out = bytearray()
    t = b""
    n = 1
    while len(out) < length:
        t = prf.mac(t, seed, bytes((n,)))
        out.extend(t)
        n += 1
    return bytes(out[:length])
