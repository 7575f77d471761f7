# IKEv2 key schedule with PRF_HMAC_SHA2_256 (RFC 7296 sections 2.13, 2.14, 2.17, 2.18).
# Key material is never logged.
from crypto.hmac import DIGEST, HmacSha256
from crypto.prf import prf_plus
from ike import const

PRF_KEY_LEN = DIGEST  # SK_d, SK_pi, SK_pr: the preferred key length of the PRF (2.14)


def key_bytes(encr_id, keylen_bits):
    """Key length in bytes for a negotiated ENCR transform (keylen_bits from the Key Length attribute).
    Here, not in crypto/cipher.py, which stays loaded while SAs use its ciphers: only the exchanges
    that make keys need it."""
    if encr_id == const.ENCR_AES_CBC and keylen_bits in (128, 192, 256):
        return keylen_bits // 8
    if encr_id == const.ENCR_3DES and keylen_bits in (None, 192):
        return 24
    raise ValueError("unsupported cipher %d/%s" % (encr_id, keylen_bits))


class IkeKeys:
    """SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr, split from one prf+ output."""

    def __init__(self, km, encr_key_len, integ_key_len):
        p = PRF_KEY_LEN
        i = integ_key_len
        e = encr_key_len
        self.sk_d = km[:p]
        self.sk_ai = km[p:p + i]
        self.sk_ar = km[p + i:p + 2 * i]
        o = p + 2 * i
        self.sk_ei = km[o:o + e]
        self.sk_er = km[o + e:o + 2 * e]
        o += 2 * e
        self.sk_pi = km[o:o + p]
        self.sk_pr = km[o + p:o + 2 * p]


def skeyseed(ni, nr, gir):
    """SKEYSEED = prf(Ni | Nr, g^ir) (2.14)."""
    return HmacSha256(ni + nr).mac(gir)


def rekey_skeyseed(sk_d_old, gir, ni, nr):
    """SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) for the IKE SA rekeyed with CREATE_CHILD_SA (2.18)."""
    return HmacSha256(sk_d_old).mac(gir, ni, nr)


def ike_keys(skeyseed, ni, nr, spi_i, spi_r, encr_key_len, integ_key_len=32):
    """{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)."""
    n = 3 * PRF_KEY_LEN + 2 * integ_key_len + 2 * encr_key_len
    km = prf_plus(HmacSha256(skeyseed), ni + nr + spi_i + spi_r, n)
    return IkeKeys(km, encr_key_len, integ_key_len)


def child_keymat(sk_d, ni, nr, encr_key_len, integ_key_len=32, gir=None):
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (2.17), split as
    (encr_i, integ_i, encr_r, integ_r): the initiator-to-responder keys come first."""
    seed = ni + nr if gir is None else gir + ni + nr
    e = encr_key_len
    i = integ_key_len
    km = prf_plus(HmacSha256(sk_d), seed, 2 * (e + i))
    return km[:e], km[e:e + i], km[e + i:2 * e + i], km[2 * e + i:]
