# Software 3DES-CBC (TDEA, SP 800-67: E_K3(D_K2(E_K1(x))) with three independent keys), for peers that
# still propose ENCR_3DES for the IKE SA. Never used for ESP. The round function uses combined S-box +
# P-permutation tables built at import, kept as arrays of 32-bit words (on the ESP32 many entries would
# not fit a small int). The three DES passes share one IP/FP since FP(IP(x)) = x.
from array import array

from crypto.cipher import cbc_out

# FIPS 46-3 tables (1-based bit numbers, bit 1 = most significant).
_IP = bytes((58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
             62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
             57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
             61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7))
_P = bytes((16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
            2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25))
_PC1 = bytes((57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
              10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
              63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
              14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4))
_PC2 = bytes((14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4,
              26, 8, 16, 7, 27, 20, 13, 2, 41, 52, 31, 37, 47, 55, 30, 40,
              51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32))
_SHIFTS = bytes((1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1))
# S1..S8, four rows of sixteen 4-bit entries each, one hex digit per entry.
_S = ("e4d12fb83a6c5907" "0f74e2d1a6cb9538" "41e8d62bfc973a50" "fc8249175b3ea06d"
      "f18e6b34972dc05a" "3d47f28ec01a69b5" "0e7ba4d158c6932f" "d8a13f42b67c05e9"
      "a09e63f51dc7b428" "d709346a285ecbf1" "d6498f30b12c5ae7" "1ad069874fe3b52c"
      "7de3069a1285bc4f" "d8b56f03472c1ae9" "a690cb7df13e5284" "3f06a1d8945bc72e"
      "2c417ab6853fd0e9" "eb2c47d150fa3986" "421bad78f9c5630e" "b8c71e2d6f09a453"
      "c1af92680d34e75b" "af427c9561de0b38" "9ef528c3704a1db6" "432c95fabe17608d"
      "4b2ef08d3c975a61" "d0b7491ae35c2f86" "14bdc37eaf680592" "6bd814a7950fe23c"
      "d2846fb1a93e50c7" "1fd8a374c56b0e92" "7b419ce206adf358" "21e74a8dfc90356b")


def _perm(v, table, nbits):
    out = 0
    for p in table:
        out = (out << 1) | ((v >> (nbits - p)) & 1)
    return out


def _sp_tables():
    sp = []
    for box in range(8):
        t = array("I", [0] * 64)
        for x in range(64):
            row = ((x >> 4) & 2) | (x & 1)
            col = (x >> 1) & 15
            s = int(_S[64 * box + 16 * row + col], 16)
            t[x] = _perm(s << (28 - 4 * box), _P, 32)
        sp.append(t)
    return sp


_SP = _sp_tables()
_FP = bytes(list(_IP).index(i) + 1 for i in range(1, 65))  # bytes.index(int) is newer than MicroPython 1.25


def _subkeys(key8):
    """16 round keys as 8 six-bit chunks each (128 bytes), for encryption order."""
    k = _perm(int.from_bytes(key8, "big"), _PC1, 64)
    c = k >> 28
    d = k & 0xFFFFFFF
    out = bytearray(128)
    for r in range(16):
        s = _SHIFTS[r]
        c = ((c << s) | (c >> (28 - s))) & 0xFFFFFFF
        d = ((d << s) | (d >> (28 - s))) & 0xFFFFFFF
        k48 = _perm((c << 28) | d, _PC2, 56)
        for i in range(8):
            out[8 * r + i] = (k48 >> (42 - 6 * i)) & 63
    return bytes(out)


def _reverse(ks):
    return b"".join(ks[8 * r:8 * r + 8] for r in range(15, -1, -1))


def _rounds(left, right, ks):
    s0, s1, s2, s3, s4, s5, s6, s7 = _SP
    for o in range(0, 128, 8):
        # E expansion: chunk i is bits 4i..4i+5 of R32|R|R1 (cyclic), taken straight from R
        f = (s0[(((right & 1) << 5) | (right >> 27)) ^ ks[o]]
             ^ s1[((right >> 23) & 63) ^ ks[o + 1]]
             ^ s2[((right >> 19) & 63) ^ ks[o + 2]]
             ^ s3[((right >> 15) & 63) ^ ks[o + 3]]
             ^ s4[((right >> 11) & 63) ^ ks[o + 4]]
             ^ s5[((right >> 7) & 63) ^ ks[o + 5]]
             ^ s6[((right >> 3) & 63) ^ ks[o + 6]]
             ^ s7[(((right & 31) << 1) | (right >> 31)) ^ ks[o + 7]])
        left, right = right, left ^ f
    return right, left  # the final swap of DES, which is also the next pass's input order


class Des3Cbc:
    """3DES-CBC with a 24-byte key K1|K2|K3: .encrypt(iv, data) / .decrypt(iv, data) -> bytes."""

    block_size = 8

    def __init__(self, key):
        if len(key) != 24:
            raise ValueError("3DES key must be 24 bytes")
        k1 = _subkeys(key[0:8])
        k2 = _subkeys(key[8:16])
        k3 = _subkeys(key[16:24])
        self._enc = (k1, _reverse(k2), k3)
        self._dec = (_reverse(k3), k2, _reverse(k1))

    def _block(self, v, schedule):
        v = _perm(v, _IP, 64)
        left = v >> 32
        right = v & 0xFFFFFFFF
        for ks in schedule:
            left, right = _rounds(left, right, ks)
        return _perm((left << 32) | right, _FP, 64)

    def encrypt(self, iv, data):
        n = len(data)
        out = cbc_out(data, 8)
        prev = int.from_bytes(iv, "big")
        for o in range(0, n, 8):
            prev = self._block(prev ^ int.from_bytes(data[o:o + 8], "big"), self._enc)
            out[o:o + 8] = prev.to_bytes(8, "big")
        return bytes(out)

    def decrypt(self, iv, data):
        n = len(data)
        out = cbc_out(data, 8)
        prev = int.from_bytes(iv, "big")
        for o in range(0, n, 8):
            c = int.from_bytes(data[o:o + 8], "big")
            out[o:o + 8] = (self._block(c, self._dec) ^ prev).to_bytes(8, "big")
            prev = c
        return bytes(out)
