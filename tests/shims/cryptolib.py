"""CPython stand-in for MicroPython's `cryptolib`, built on `cryptography`, with the same semantics as
the unix port (checked by tests/unit/test_crypto_props.py against the real one):
`aes(key, mode, IV=None)`, mode 1 = ECB, 2 = CBC (IV required, 16 bytes), key 16 or 32 bytes; one
object either encrypts or decrypts, and CBC chaining carries over between calls;
`encrypt(in, out=None)` / `decrypt(in, out=None)` return new bytes, or fill `out` (a writable buffer at
least as long as `in`, possibly the same memory) and return it."""
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# MicroPython's cryptolib exports no mode constants; keep these private so firmware can't rely on them.
_ECB = 1
_CBC = 2


class aes:  # noqa: N801 (MicroPython's name)
    def __init__(self, key, mode, IV=None):  # noqa: N803
        key = bytes(key)
        if len(key) not in (16, 32):
            raise ValueError("key")
        if mode == _ECB:
            m = modes.ECB()
        elif mode == _CBC:
            if IV is None or len(IV) != 16:
                raise ValueError("IV")
            m = modes.CBC(bytes(IV))
        else:
            raise ValueError("mode")
        self._cipher = Cipher(algorithms.AES(key), m)
        self._ctx = None
        self._encrypting = None

    def _run(self, encrypting, data, out):
        if self._encrypting is None:
            self._encrypting = encrypting
            self._ctx = self._cipher.encryptor() if encrypting else self._cipher.decryptor()
        elif self._encrypting != encrypting:
            raise ValueError("can't encrypt & decrypt")
        n = len(data)
        if n % 16:
            raise ValueError("blksize % 16")
        if out is not None:
            if not isinstance(out, (bytearray, memoryview)) or (isinstance(out, memoryview) and out.readonly):
                raise TypeError("object with buffer protocol required")
            if len(out) < n:
                raise ValueError("output too small")
        result = self._ctx.update(bytes(data))
        if out is None:
            return result
        out[:n] = result
        return out

    def encrypt(self, data, out=None):
        return self._run(True, data, out)

    def decrypt(self, data, out=None):
        return self._run(False, data, out)
