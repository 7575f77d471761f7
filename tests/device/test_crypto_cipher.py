# IKE SK ciphers against FIPS-197, SP 800-38A, SP 800-67, SP 800-20 and NIST MMT vectors, under MicroPython.
from crypto import cipher
from ike import const

import vectors_crypto as v

h = bytes.fromhex


def test_aes_cbc_sp800_38a_all_key_sizes():
    iv = h(v.AES_CBC_IV)
    plain = h(v.AES_CBC_PLAIN)
    for key, ct in v.AES_CBC:
        c = cipher.new(const.ENCR_AES_CBC, h(key))
        assert c.block_size == 16
        assert c.encrypt(iv, plain) == h(ct), key
        assert c.decrypt(iv, h(ct)) == plain, key
        # the object keeps no chaining state between messages
        assert c.encrypt(iv, plain) == h(ct)


def test_aes_cbc_later_blocks_chain_from_previous_ciphertext():
    # SP 800-38A F.2: decrypting block n alone with block n-1's ciphertext as IV gives plaintext block n
    plain = h(v.AES_CBC_PLAIN)
    for key, ct in v.AES_CBC:
        c = cipher.new(const.ENCR_AES_CBC, h(key))
        ctb = h(ct)
        assert c.decrypt(ctb[16:32], ctb[32:64]) == plain[32:64]
        assert c.encrypt(ctb[:16], plain[16:32]) == ctb[16:32]


def test_aes_fips197_single_block():
    for key, ct in v.FIPS197:
        c = cipher.new(const.ENCR_AES_CBC, h(key))
        assert c.encrypt(bytes(16), h(v.FIPS197_PLAIN)) == h(ct)
        assert c.decrypt(bytes(16), h(ct)) == h(v.FIPS197_PLAIN)


class _CryptolibSpy:
    # stands in for the cryptolib module inside crypto.cipher and counts the AES objects made
    def __init__(self, real):
        self.real = real
        self.made = 0

    def aes(self, *args):
        self.made += 1
        return self.real.aes(*args)


def test_aes128_256_use_cryptolib_and_aes192_does_not():
    spy = _CryptolibSpy(cipher.cryptolib)
    cipher.cryptolib = spy
    try:
        for n, hw in ((16, True), (32, True), (24, False)):
            before = spy.made
            c = cipher.new(const.ENCR_AES_CBC, bytes(n))
            c.decrypt(bytes(16), c.encrypt(bytes(16), bytes(32)))
            assert (spy.made > before) == hw, n
    finally:
        cipher.cryptolib = spy.real


def _ecb(c, data):
    # one CBC call per block with a zero IV is ECB
    return b"".join(c.encrypt(bytes(8), data[i:i + 8]) for i in range(0, len(data), 8))


def test_3des_sp800_67_example():
    c = cipher.new(const.ENCR_3DES, h(v.TDEA_800_67_KEY))
    assert c.block_size == 8
    assert _ecb(c, h(v.TDEA_800_67_PLAIN)) == h(v.TDEA_800_67_CIPHER)
    ct = h(v.TDEA_800_67_CIPHER)
    assert b"".join(c.decrypt(bytes(8), ct[i:i + 8]) for i in (0, 8, 16)) == h(v.TDEA_800_67_PLAIN)


def test_3des_sp800_20_known_answers():
    for key, plain, ct in v.TDEA_800_20:
        c = cipher.new(const.ENCR_3DES, h(key) * 3)
        assert c.encrypt(bytes(8), h(plain)) == h(ct), (key, plain)
        assert c.decrypt(bytes(8), h(ct)) == h(plain)


def test_3des_cbc_mmt():
    for key, iv, plain, ct in v.TDEA_CBC_MMT:
        c = cipher.new(const.ENCR_3DES, h(key))
        assert c.encrypt(h(iv), h(plain)) == h(ct)
        assert c.decrypt(h(iv), h(ct)) == h(plain)


def test_bad_keys_and_lengths_rejected():
    for encr, key in ((const.ENCR_AES_CBC, bytes(20)), (const.ENCR_3DES, bytes(16)),
                      (const.ENCR_AES_GCM_16, bytes(16))):
        try:
            cipher.new(encr, key)
        except ValueError:
            continue
        raise AssertionError("accepted %r/%d" % (encr, len(key)))
    for key_len, bs in ((16, 16), (24, 16), (32, 16)):
        c = cipher.new(const.ENCR_AES_CBC, bytes(key_len))
        for op in (c.encrypt, c.decrypt):
            try:
                op(bytes(16), bytes(bs + 1))
            except ValueError:
                continue
            raise AssertionError("partial block accepted")
    c = cipher.new(const.ENCR_3DES, bytes(24))
    try:
        c.encrypt(bytes(8), bytes(12))
    except ValueError:
        return
    raise AssertionError("partial block accepted")


def test_memoryview_inputs():
    # the SK codec passes slices of its datagram buffer
    for encr, key in ((const.ENCR_AES_CBC, bytes(range(16))), (const.ENCR_AES_CBC, bytes(range(24))),
                      (const.ENCR_AES_CBC, bytes(range(32))), (const.ENCR_3DES, bytes(range(24)))):
        c = cipher.new(encr, memoryview(bytearray(key)))
        bs = c.block_size
        buf = bytearray(range(6 * bs))
        mv = memoryview(buf)
        ct = c.encrypt(mv[:bs], mv[bs:])
        assert ct == cipher.new(encr, key).encrypt(bytes(buf[:bs]), bytes(buf[bs:]))
        assert c.decrypt(mv[:bs], memoryview(ct)) == bytes(buf[bs:])
        assert ct != bytes(buf[bs:])
