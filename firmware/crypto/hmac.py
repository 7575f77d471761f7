# HMAC-SHA-256 (RFC 2104) on top of hashlib. MicroPython's sha256 has no copy(), so instead of cloning
# keyed hash states the padded key blocks are computed once per key and fed to a fresh hash each time.
# PRF_HMAC_SHA2_256 uses the full 32-byte output, AUTH_HMAC_SHA2_256_128 its first 16 bytes (RFC 4868).
import hashlib

BLOCK = 64
DIGEST = 32


class HmacSha256:
    def __init__(self, key):
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        # ipad | opad in one object: an IKE SA holds two of these for its life (ike/sk.py).
        pads = bytearray(2 * BLOCK)
        n = len(key)
        for i in range(BLOCK):
            k = key[i] if i < n else 0
            pads[i] = k ^ 0x36
            pads[BLOCK + i] = k ^ 0x5C
        self._pads = bytes(pads)

    def mac(self, *parts):
        """HMAC over the concatenation of parts (bytes, bytearray or memoryview): 32 bytes."""
        pads = memoryview(self._pads)
        h = hashlib.sha256(pads[:BLOCK])
        for p in parts:
            h.update(p)
        inner = h.digest()
        h = hashlib.sha256(pads[BLOCK:])
        h.update(inner)
        return h.digest()


def hmac_sha256(key, *parts):
    return HmacSha256(key).mac(*parts)
