# Software AES-CBC (FIPS-197), byte-oriented so every value stays a small int on the ESP32.
# Only for ENCR_AES_CBC with a 192-bit key on the IKE SA: cryptolib (the hardware path) takes 128/256-bit
# keys only. IKE messages are short and rare, so clarity and a small footprint beat speed here.
from crypto.cipher import cbc_out


def _rotl8(v, n):
    return ((v << n) | (v >> (8 - n))) & 0xFF


def _tables():
    # xtime table, then the S-box from GF(2^8) inverses (via powers of the generator 3) + the affine map
    x2 = bytearray(256)
    for i in range(256):
        x2[i] = ((i << 1) ^ (0x1B if i & 0x80 else 0)) & 0xFF
    exp = bytearray(256)
    log = bytearray(256)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= x2[x]
    sbox = bytearray(256)
    inv = bytearray(256)
    for i in range(256):
        v = exp[(255 - log[i]) % 255] if i else 0
        s = v ^ _rotl8(v, 1) ^ _rotl8(v, 2) ^ _rotl8(v, 3) ^ _rotl8(v, 4) ^ 0x63
        sbox[i] = s
        inv[s] = i
    return bytes(sbox), bytes(inv), bytes(x2)


_SBOX, _INV, _X2 = _tables()
# State byte i = 4 * column + row. ShiftRows moves row r left by r columns.
_SHIFT = bytes(4 * ((i // 4 + i % 4) % 4) + i % 4 for i in range(16))
_INV_SHIFT = bytes(4 * ((i // 4 - i % 4) % 4) + i % 4 for i in range(16))


def _expand(key):
    nk = len(key) // 4
    nr = nk + 6
    w = bytearray(16 * (nr + 1))
    w[:len(key)] = key
    sb = _SBOX
    rcon = 1
    for i in range(nk, 4 * (nr + 1)):
        o = 4 * i
        t0, t1, t2, t3 = w[o - 4], w[o - 3], w[o - 2], w[o - 1]
        if i % nk == 0:
            t0, t1, t2, t3 = sb[t1] ^ rcon, sb[t2], sb[t3], sb[t0]
            rcon = _X2[rcon]
        elif nk > 6 and i % nk == 4:
            t0, t1, t2, t3 = sb[t0], sb[t1], sb[t2], sb[t3]
        p = o - 4 * nk
        w[o] = w[p] ^ t0
        w[o + 1] = w[p + 1] ^ t1
        w[o + 2] = w[p + 2] ^ t2
        w[o + 3] = w[p + 3] ^ t3
    return w, nr


class AesCbc:
    """AES-CBC with a 16, 24 or 32-byte key: .encrypt(iv, data) / .decrypt(iv, data) -> bytes."""

    block_size = 16

    def __init__(self, key):
        if len(key) not in (16, 24, 32):
            raise ValueError("AES key must be 16, 24 or 32 bytes")
        self._w, self._nr = _expand(key)
        self._t = bytearray(16)

    def _encrypt_block(self, s):
        w = self._w
        nr = self._nr
        t = self._t
        sb = _SBOX
        x2 = _X2
        sh = _SHIFT
        for i in range(16):
            s[i] ^= w[i]
        for r in range(1, nr + 1):
            for i in range(16):
                t[i] = sb[s[sh[i]]]
            k = 16 * r
            if r == nr:
                for i in range(16):
                    s[i] = t[i] ^ w[k + i]
                return
            for c in (0, 4, 8, 12):
                a0, a1, a2, a3 = t[c], t[c + 1], t[c + 2], t[c + 3]
                e = a0 ^ a1 ^ a2 ^ a3
                s[c] = a0 ^ e ^ x2[a0 ^ a1] ^ w[k + c]
                s[c + 1] = a1 ^ e ^ x2[a1 ^ a2] ^ w[k + c + 1]
                s[c + 2] = a2 ^ e ^ x2[a2 ^ a3] ^ w[k + c + 2]
                s[c + 3] = a3 ^ e ^ x2[a3 ^ a0] ^ w[k + c + 3]

    def _decrypt_block(self, s):
        w = self._w
        t = self._t
        inv = _INV
        x2 = _X2
        sh = _INV_SHIFT
        k = 16 * self._nr
        for i in range(16):
            s[i] ^= w[k + i]
        for r in range(self._nr - 1, -1, -1):
            k = 16 * r
            for i in range(16):
                t[i] = inv[s[sh[i]]] ^ w[k + i]
            if r == 0:
                s[:] = t
                return
            for c in (0, 4, 8, 12):
                # InvMixColumns = MixColumns after this premultiplication ("The Design of Rijndael", 4.1.3)
                a0, a1, a2, a3 = t[c], t[c + 1], t[c + 2], t[c + 3]
                u = x2[x2[a0 ^ a2]]
                v = x2[x2[a1 ^ a3]]
                a0 ^= u
                a1 ^= v
                a2 ^= u
                a3 ^= v
                e = a0 ^ a1 ^ a2 ^ a3
                s[c] = a0 ^ e ^ x2[a0 ^ a1]
                s[c + 1] = a1 ^ e ^ x2[a1 ^ a2]
                s[c + 2] = a2 ^ e ^ x2[a2 ^ a3]
                s[c + 3] = a3 ^ e ^ x2[a3 ^ a0]

    def encrypt(self, iv, data):
        n = len(data)
        out = cbc_out(data, 16)
        s = bytearray(iv)  # holds the previous ciphertext block
        for o in range(0, n, 16):
            for i in range(16):
                s[i] ^= data[o + i]
            self._encrypt_block(s)
            out[o:o + 16] = s
        return bytes(out)

    def decrypt(self, iv, data):
        n = len(data)
        out = cbc_out(data, 16)
        s = bytearray(16)
        prev = iv
        for o in range(0, n, 16):
            blk = data[o:o + 16]
            s[:] = blk
            self._decrypt_block(s)
            for i in range(16):
                out[o + i] = s[i] ^ prev[i]
            prev = blk
        return bytes(out)
