# The whole crypto layer runs in the ESP32's ~112 KB Python heap: both ends of an IKE SA setup for every
# DH group and cipher, with the modules loaded as source (which needs more heap than .mpy).
HEAPSIZE = "112k"

import gc
import os

from crypto import cipher, dh
from ike import const, keys


def test_ike_sa_setup_fits_in_device_heap():
    ni, nr, spi_i, spi_r = os.urandom(32), os.urandom(32), os.urandom(8), os.urandom(8)
    suites = ((const.ENCR_AES_CBC, 256), (const.ENCR_AES_CBC, 128), (const.ENCR_AES_CBC, 192),
              (const.ENCR_3DES, None))
    for group, (encr, bits) in zip(dh.SUPPORTED + (dh.SUPPORTED[0],), suites):
        a = dh.new(group)
        b = dh.new(group)
        gir = a.shared(b.public)
        assert gir == b.shared(a.public)
        klen = keys.key_bytes(encr, bits)
        ki = keys.ike_keys(keys.skeyseed(ni, nr, gir), ni, nr, spi_i, spi_r, klen)
        kr = keys.ike_keys(keys.skeyseed(ni, nr, b.shared(a.public)), ni, nr, spi_i, spi_r, klen)
        assert ki.sk_ei == kr.sk_ei and ki.sk_pr == kr.sk_pr
        enc = cipher.new(encr, ki.sk_ei)
        iv = os.urandom(enc.block_size)
        msg = os.urandom(64 * enc.block_size)  # a 1-KB IKE_AUTH-sized message (512 B for 3DES)
        ct = enc.encrypt(iv, msg)
        assert ct != msg
        assert cipher.new(encr, kr.sk_ei).decrypt(iv, ct) == msg
        child = keys.child_keymat(ki.sk_d, ni, nr, 32, gir=gir)
        assert len(child) == 4 and child[0] != child[2]
        gc.collect()
    assert gc.mem_free() > 20 * 1024
