# Block ciphers for the IKE SK payload (RFC 7296 3.14): CBC with an explicit IV per message.
# AES-128/256 go through cryptolib (the ESP32's AES hardware). cryptolib takes only 16/32-byte keys, so
# AES-192 and 3DES are software ciphers, imported only when a peer negotiates them; ESP never uses them.
import cryptolib

from ike import const

_CBC = 2  # cryptolib mode


class _HwAesCbc:
    block_size = 16

    def __init__(self, key):
        self._key = bytes(key)

    def encrypt(self, iv, data):
        return cryptolib.aes(self._key, _CBC, iv).encrypt(data)

    def decrypt(self, iv, data):
        return cryptolib.aes(self._key, _CBC, iv).decrypt(data)


def cbc_out(data, block_size):
    """The output buffer for CBC over `data` (software ciphers); ValueError unless whole blocks."""
    if len(data) % block_size:
        raise ValueError("data not a multiple of the block size")
    return bytearray(len(data))


def new(encr_id, key):
    """A Cipher with .block_size (= IV size), .encrypt(iv, data) and .decrypt(iv, data) -> bytes."""
    n = len(key)
    if encr_id == const.ENCR_AES_CBC:
        if n == 16 or n == 32:
            return _HwAesCbc(key)
        if n == 24:
            from crypto import aes_soft

            return aes_soft.AesCbc(key)
    elif encr_id == const.ENCR_3DES and n == 24:
        from crypto import des3

        return des3.Des3Cbc(key)
    raise ValueError("unsupported cipher %d with a %d-byte key" % (encr_id, n))
