# strongSwan's proposal keywords (libstrongswan/crypto/proposal/proposal_keywords_static.txt) for the
# algorithms IKEv2 names, whether we support them or not: parsing a configured proposal
# (proposal.parse) and naming what a peer offered ("proposal mismatch: peer offered
# aes128gcm16-prfsha256-ecp384"). Loaded only for that (config validation, log lines): the responder
# unloads it with its other transient modules, so the tables are not in the heap between handshakes.
from ike import const
from ike.proposal import _derived_prf

_E = const.TRANS_ENCR
_P = const.TRANS_PRF
_I = const.TRANS_INTEG
_D = const.TRANS_DH
_S = const.TRANS_ESN
_ADDKE_FIRST = const.TRANS_ESN + 1  # RFC 9370 additional key exchanges: transform types 6..12
_ADDKE_LAST = const.TRANS_ESN + 7

# Rows of type, id, keylen or None, keywords: the first keyword is the one describe() prints, the
# others are strongSwan aliases. Key-length families of block ciphers are in _ENCR_FAMILIES below.
# (Flat tuples: a tuple per row would cost the board's heap twice as much.)
_WORDS = (
    _E, const.ENCR_3DES, None, "3des",
    _E, const.ENCR_DES, None, "des",
    _E, const.ENCR_NULL, None, "null",
    _E, const.ENCR_CHACHA20_POLY1305, None, "chacha20poly1305",
    _E, const.ENCR_CAST, 128, "cast128",
    _I, const.AUTH_HMAC_SHA2_256_128, None, "sha256 sha2_256",
    _I, const.AUTH_HMAC_SHA2_384_192, None, "sha384 sha2_384",
    _I, const.AUTH_HMAC_SHA2_512_256, None, "sha512 sha2_512",
    _I, const.AUTH_HMAC_SHA1_96, None, "sha1 sha",
    _I, const.AUTH_HMAC_SHA1_160, None, "sha1_160",
    _I, const.AUTH_HMAC_MD5_96, None, "md5",
    _I, const.AUTH_HMAC_MD5_128, None, "md5_128",
    _I, const.AUTH_AES_XCBC_96, None, "aesxcbc",
    _I, const.AUTH_AES_CMAC_96, None, "aescmac",
    _P, const.PRF_HMAC_SHA2_256, None, "prfsha256",
    _P, const.PRF_HMAC_SHA2_384, None, "prfsha384",
    _P, const.PRF_HMAC_SHA2_512, None, "prfsha512",
    _P, const.PRF_HMAC_SHA1, None, "prfsha1",
    _P, const.PRF_HMAC_MD5, None, "prfmd5",
    _P, const.PRF_AES128_XCBC, None, "prfaesxcbc",
    _P, const.PRF_AES128_CMAC, None, "prfaescmac",
    _D, const.MODP_2048, None, "modp2048",
    _D, const.ECP_256, None, "ecp256",
    _D, const.CURVE25519, None, "curve25519 x25519",
    _D, const.CURVE448, None, "curve448 x448",
    _D, const.MODP_768, None, "modp768",
    _D, const.MODP_1024, None, "modp1024",
    _D, const.MODP_1536, None, "modp1536",
    _D, const.MODP_3072, None, "modp3072",
    _D, const.MODP_4096, None, "modp4096",
    _D, const.MODP_6144, None, "modp6144",
    _D, const.MODP_8192, None, "modp8192",
    _D, const.ECP_384, None, "ecp384",
    _D, const.ECP_521, None, "ecp521",
    _D, const.ECP_192, None, "ecp192",
    _D, const.ECP_224, None, "ecp224",
    _D, const.MODP_1024_160, None, "modp1024s160",
    _D, const.MODP_2048_224, None, "modp2048s224",
    _D, const.MODP_2048_256, None, "modp2048s256",
    _D, const.BRAINPOOL_P224R1, None, "ecp224bp",
    _D, const.BRAINPOOL_P256R1, None, "ecp256bp",
    _D, const.BRAINPOOL_P384R1, None, "ecp384bp",
    _D, const.BRAINPOOL_P512R1, None, "ecp512bp",
    _D, const.DH_NONE, None, "none modpnone",
    _S, const.NO_ESN, None, "noesn",
    _S, const.ESN, None, "esn",
)

# Block ciphers named family + key length + mode suffix ('aes256', 'aes128gcm16', 'camellia192ctr').
_ENCR_FAMILIES = (
    const.ENCR_AES_CBC, "aes", "",
    const.ENCR_AES_CTR, "aes", "ctr",
    const.ENCR_AES_GCM_16, "aes", "gcm16",
    const.ENCR_AES_GCM_12, "aes", "gcm12",
    const.ENCR_AES_GCM_8, "aes", "gcm8",
    const.ENCR_AES_CCM_16, "aes", "ccm16",
    const.ENCR_AES_CCM_12, "aes", "ccm12",
    const.ENCR_AES_CCM_8, "aes", "ccm8",
    const.ENCR_NULL_AUTH_AES_GMAC, "aes", "gmac",
    const.ENCR_CAMELLIA_CBC, "camellia", "",
    const.ENCR_CAMELLIA_CTR, "camellia", "ctr",
    const.ENCR_CAMELLIA_CCM_16, "camellia", "ccm16",
    const.ENCR_CAMELLIA_CCM_12, "camellia", "ccm12",
    const.ENCR_CAMELLIA_CCM_8, "camellia", "ccm8",
    const.ENCR_BLOWFISH, "blowfish", "",
)
_KEY_SIZES = (128, 192, 256)
# strongSwan's alternative spellings of the ICV length (bits instead of bytes; bare = 16 bytes)
_SUFFIX_ALIASES = {"gcm": "gcm16", "gcm128": "gcm16", "gcm96": "gcm12", "gcm64": "gcm8",
                   "ccm": "ccm16", "ccm128": "ccm16", "ccm96": "ccm12", "ccm64": "ccm8"}

_TYPE_NAMES = {_E: "ENCR", _P: "PRF", _I: "INTEG", _D: "DH", _S: "ESN"}


def lookup(word):
    """strongSwan keyword -> (transform type, id, keylen or None), or None if strongSwan has no such
    keyword (as far as this table knows)."""
    for k in range(0, len(_WORDS), 4):
        if word in _WORDS[k + 3].split(" "):
            return _WORDS[k], _WORDS[k + 1], _WORDS[k + 2]
    for k in range(0, len(_ENCR_FAMILIES), 3):
        i, family, suffix = _ENCR_FAMILIES[k], _ENCR_FAMILIES[k + 1], _ENCR_FAMILIES[k + 2]
        if not word.startswith(family):
            continue
        rest = word[len(family):]
        n = 0
        while n < len(rest) and "0" <= rest[n] <= "9":
            n += 1
        tail = _SUFFIX_ALIASES.get(rest[n:], rest[n:])
        if tail != suffix:
            continue
        if n == 0:  # 'aes', 'camellia', 'blowfish' alone mean 128-bit CBC
            return (_E, i, 128) if suffix == "" else None
        size = int(rest[:n])
        return (_E, i, size) if size in _KEY_SIZES else None
    return None


def _word(t, i, kl):
    for k in range(0, len(_WORDS), 4):
        if _WORDS[k] == t and _WORDS[k + 1] == i and _WORDS[k + 2] == kl:
            return _WORDS[k + 3].split(" ")[0]
    if t == _E and kl in _KEY_SIZES:
        for k in range(0, len(_ENCR_FAMILIES), 3):
            if _ENCR_FAMILIES[k] == i:
                return _ENCR_FAMILIES[k + 1] + str(kl) + _ENCR_FAMILIES[k + 2]
    name = _TYPE_NAMES.get(t)
    if name is None:
        if _ADDKE_FIRST <= t <= _ADDKE_LAST:
            return "ke%d_%s" % (t - const.TRANS_ESN, _word(_D, i, None))
        name = "TRANS%d" % t
    name = "%s_%d" % (name, i)
    if kl == -1:
        return name + "_BADATTR"
    return name if kl is None else "%s_%d" % (name, kl)


def describe_lists(protocol, encr, integ, prf, dh, esn, other):
    words = [_word(_E, i, kl) for i, kl in encr]
    words.extend(_word(_I, i, None) for i in integ)
    # The PRF is implied by the integrity algorithm unless it differs (strongSwan reads it back so).
    if not (protocol == const.PROTO_IKE and integ and prf == _derived_prf(integ)):
        words.extend(_word(_P, i, None) for i in prf)
    words.extend(_word(_D, i, None) for i in dh)
    if esn != [const.NO_ESN]:  # noesn is the default
        words.extend(_word(_S, i, None) for i in esn)
    words.extend(_word(t, i, None) for t, i in other)
    return "-".join(words)


def describe(p):
    """A received message.Proposal in strongSwan syntax, including algorithms we do not support
    ('aes128gcm16-prfsha256-ecp384'); unknown ones as 'ENCR_1234'."""
    from ike.selection import transforms_by_type  # here: parsing a config needs no selection code
    encr, integ, prf, dh, esn, other = transforms_by_type(p)
    return describe_lists(p.protocol, encr, integ, prf, dh, esn, other)


def describe_proposals(proposals):
    """All proposals of an SA payload, comma-separated as in swanctl.conf."""
    return ", ".join(describe(p) for p in proposals)

