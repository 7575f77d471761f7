# IKE and ESP proposals written in strongSwan's syntax, so a user can copy them to or from a
# swanctl.conf: 'aes256-sha256-modp2048' (IKE), 'aes256-sha256' (ESP), 'aes256-sha256-modp2048' (ESP
# with PFS). The semantics are strongSwan's (libstrongswan/crypto/proposal/proposal.c):
# - keywords are separated by '-'; several keywords of one transform type form a list in preference
#   order ('aes256-aes128-sha256-x25519-modp2048');
# - IKE: without an explicit PRF, each integrity algorithm brings its HMAC PRF (sha256 -> prfsha256);
#   a DH group is mandatory; 'none' is dropped;
# - ESP: DH groups are optional and mean PFS in CREATE_CHILD_SA; 'none' among them makes PFS optional;
#   no 'esn'/'noesn' means noesn; PRF keywords are ignored;
# - selection follows strongSwan's too: ike/selection.py, apart so that an exchange loads only that.
# We support IKE: aes128/aes192/aes256/3des, sha256, prfsha256, modp2048/ecp256/curve25519(x25519);
# ESP: aes128/aes256, sha256, the same DH groups for PFS, noesn. describe() also names what we do not
# support, so a mismatch log line tells the user what the peer wanted.
from ike import const
from ike import names
from ike.algos import Chosen, Spec  # re-exported: part of this module's API

_E = const.TRANS_ENCR
_P = const.TRANS_PRF
_I = const.TRANS_INTEG
_D = const.TRANS_DH
_S = const.TRANS_ESN

# RFC 8247 (IKE) / RFC 8221 (ESP): AES-CBC with HMAC-SHA2-256-128; DH 31, 19, 14 (fastest first on
# the ESP32: X25519, then P-256, then MODP-2048).
DEFAULT_IKE = ["aes256-aes128-sha256-curve25519-ecp256-modp2048"]
DEFAULT_ESP = ["aes256-aes128-sha256"]

# strongSwan's integ_prf_map: the PRF an IKE proposal gets when it names none
_INTEG_PRF = (
    const.AUTH_HMAC_SHA2_256_128, const.PRF_HMAC_SHA2_256,
    const.AUTH_HMAC_SHA2_384_192, const.PRF_HMAC_SHA2_384,
    const.AUTH_HMAC_SHA2_512_256, const.PRF_HMAC_SHA2_512,
    const.AUTH_HMAC_SHA1_96, const.PRF_HMAC_SHA1,
    const.AUTH_HMAC_SHA1_160, const.PRF_HMAC_SHA1,
    const.AUTH_HMAC_MD5_96, const.PRF_HMAC_MD5,
    const.AUTH_HMAC_MD5_128, const.PRF_HMAC_MD5,
    const.AUTH_AES_XCBC_96, const.PRF_AES128_XCBC,
    const.AUTH_AES_CMAC_96, const.PRF_AES128_CMAC,
)

_DH_OK = (const.MODP_2048, const.ECP_256, const.CURVE25519)


class ProposalError(ValueError):
    """A proposal string we cannot use; the message names the keyword and the field."""


# Spec and Chosen live in ike/algos.py: the config and the SAs hold them for good, and a class keeps
# its module's globals alive, so with them here this whole module would stay in the heap. This module
# is transient: loaded to validate the config (or to name algorithms), unloaded after.


def _field(protocol):
    return "ike_proposals" if protocol == const.PROTO_IKE else "esp_proposals"


def lookup(word):
    """strongSwan keyword -> (transform type, id, keylen or None), or None if strongSwan has no such
    keyword (as far as ike/words.py's table knows). The keywords of what we support are answered
    without loading that table (a config of supported algorithms never needs it)."""
    if word.startswith("aes") and word[3:] in ("128", "192", "256"):
        return _E, const.ENCR_AES_CBC, int(word[3:])
    for key in names.KEYWORDS:
        if names.KEYWORDS[key] == word:
            return key >> 16, key & 0xFFFF, None
    from ike import words
    return words.lookup(word)


def _supported(protocol, t, i, kl):
    if t == _E:
        if i == const.ENCR_AES_CBC:
            return kl in ((128, 192, 256) if protocol == const.PROTO_IKE else (128, 256))
        return i == const.ENCR_3DES and protocol == const.PROTO_IKE
    if t == _I:
        return i == const.AUTH_HMAC_SHA2_256_128
    if t == _P:
        return i == const.PRF_HMAC_SHA2_256
    if t == _D:
        return i in _DH_OK or i == const.DH_NONE
    # ESP without ESN only: the engine's sequence numbers are 32 bits (RFC 4303 2.2.1's high half is
    # not carried), so an SA negotiated with ESN would fail every ICV.
    return t == _S and protocol == const.PROTO_ESP and i == const.NO_ESN


def _add(lst, item):
    if item not in lst:
        lst.append(item)


def parse(text, protocol):
    """Parse one proposal ('aes256-sha256-modp2048') for const.PROTO_IKE or PROTO_ESP -> Spec.
    Raises ProposalError naming the offending keyword."""
    field = _field(protocol)
    encr, integ, prf, dh, esn = [], [], [], [], []
    lists = {_E: encr, _I: integ, _P: prf, _D: dh, _S: esn}
    for word in text.strip().lower().split("-"):
        word = word.strip()
        if not word:
            raise ProposalError("empty algorithm in %s '%s'" % (field, text))
        tok = lookup(word)
        if tok is None:
            raise ProposalError("unknown algorithm '%s' in %s" % (word, field))
        t, i, kl = tok
        if not _supported(protocol, t, i, kl):
            raise ProposalError("unsupported algorithm '%s' in %s" % (word, field))
        if t == _P and protocol != const.PROTO_IKE:
            continue  # strongSwan drops PRFs from ESP proposals
        if t == _D and i == const.DH_NONE and protocol == const.PROTO_IKE:
            continue  # and KE_NONE from IKE ones
        _add(lists[t], (i, kl) if t == _E else i)
    if not encr:
        raise ProposalError("no encryption algorithm in %s '%s'" % (field, text))
    if not integ:
        raise ProposalError("no integrity algorithm in %s '%s'" % (field, text))
    if protocol == const.PROTO_IKE:
        if not prf:
            prf = _derived_prf(integ)
        if not dh:
            raise ProposalError("no DH group in %s '%s' (IKE needs one)" % (field, text))
    elif not esn:
        esn = [const.NO_ESN]
    return Spec(protocol, encr, integ, prf, dh, esn)


def parse_list(value, protocol):
    """A proposal list as in swanctl.conf: a list of strings or one comma-separated string; the
    keyword 'default' stands for DEFAULT_IKE / DEFAULT_ESP. -> [Spec]"""
    if isinstance(value, str):
        value = value.split(",")
    specs = []
    for text in value:
        if not isinstance(text, str):
            raise ProposalError("%s entries must be strings" % _field(protocol))
        text = text.strip()
        if text == "default":
            specs.extend(parse_list(DEFAULT_IKE if protocol == const.PROTO_IKE else DEFAULT_ESP, protocol))
        else:
            specs.append(parse(text, protocol))
    if not specs:
        raise ProposalError("%s is empty" % _field(protocol))
    return specs


def _derived_prf(integ):
    prf = []
    for a in integ:
        for k in range(0, len(_INTEG_PRF), 2):
            if _INTEG_PRF[k] == a:
                _add(prf, _INTEG_PRF[k + 1])
    return prf


# Naming algorithms (log lines, mismatch reports) takes strongSwan's keyword tables, which are
# bigger than the rest of this module and needed only then: ike/words.py, loaded on use (the
# responder unloads it with its other transient modules).

def describe(p):
    """A received message.Proposal in strongSwan syntax, including algorithms we do not support
    ('aes128gcm16-prfsha256-ecp384'); unknown ones as 'ENCR_1234'."""
    from ike import words
    return words.describe(p)


def describe_proposals(proposals):
    """All proposals of an SA payload, comma-separated as in swanctl.conf."""
    from ike import words
    return words.describe_proposals(proposals)


def describe_specs(specs):
    return ", ".join(str(s) for s in specs)
