# strongSwan's names (str() of algos.Spec and algos.Chosen) for the algorithms we support, from a few
# keywords (every Spec, every Chosen); anything else takes ike/words.py's full tables. Apart from
# ike/algos.py, whose records the config and the SAs hold for good: only a log line or a config check
# names them, and the responder unloads this module after the exchange (responder._TRANSIENT).
from ike import const

# strongSwan's keyword for each algorithm we support (the first of ike/words.py's aliases), keyed by
# transform type << 16 | id (small ints: no key objects)
KEYWORDS = {
    const.TRANS_ENCR << 16 | const.ENCR_3DES: "3des",
    const.TRANS_INTEG << 16 | const.AUTH_HMAC_SHA2_256_128: "sha256",
    const.TRANS_PRF << 16 | const.PRF_HMAC_SHA2_256: "prfsha256",
    const.TRANS_DH << 16 | const.MODP_2048: "modp2048",
    const.TRANS_DH << 16 | const.ECP_256: "ecp256",
    const.TRANS_DH << 16 | const.CURVE25519: "curve25519",
    const.TRANS_DH << 16 | const.DH_NONE: "none",
    const.TRANS_ESN << 16 | const.NO_ESN: "noesn",
    const.TRANS_ESN << 16 | const.ESN: "esn",
}
_IMPLIED_PRF = {const.AUTH_HMAC_SHA2_256_128: const.PRF_HMAC_SHA2_256}  # strongSwan's integ_prf_map, ours


def _keyword(t, i, kl):
    if t == const.TRANS_ENCR and i == const.ENCR_AES_CBC and kl in (128, 192, 256):
        return "aes%d" % kl
    return KEYWORDS.get(t << 16 | i) if kl is None or t != const.TRANS_ENCR else None


def describe(protocol, encr, integ, prf, dh, esn):
    """Lists of algorithm ids -> 'aes256-sha256-modp2048', as ike.words.describe_lists names them."""
    words = []
    implied = [] if protocol == const.PROTO_IKE and integ else None
    for i in integ:
        if implied is not None:
            p = _IMPLIED_PRF.get(i)
            if p is None:
                implied = False  # not ours to know: let the full tables decide
                break
            if p not in implied:
                implied.append(p)
    if implied is not False:
        for t, items in ((const.TRANS_ENCR, encr), (const.TRANS_INTEG, integ), (const.TRANS_PRF, prf),
                         (const.TRANS_DH, dh), (const.TRANS_ESN, esn)):
            if (t == const.TRANS_PRF and implied == prf) or (t == const.TRANS_ESN and esn == [const.NO_ESN]):
                continue
            for a in items:
                w = _keyword(t, a[0], a[1]) if t == const.TRANS_ENCR else _keyword(t, a, None)
                if w is None:
                    break
                words.append(w)
            else:
                continue
            break
        else:
            return "-".join(words)
    from ike import words as full
    return full.describe_lists(protocol, encr, integ, prf, dh, esn, ())


# RFC 7296 3.10.1's names of the error notify types, for log lines (a peer's refusal names its cause).
_ERRORS = {
    const.UNSUPPORTED_CRITICAL_PAYLOAD: "UNSUPPORTED_CRITICAL_PAYLOAD", const.INVALID_IKE_SPI: "INVALID_IKE_SPI",
    const.INVALID_MAJOR_VERSION: "INVALID_MAJOR_VERSION", const.INVALID_SYNTAX: "INVALID_SYNTAX",
    const.INVALID_MESSAGE_ID: "INVALID_MESSAGE_ID", const.INVALID_SPI: "INVALID_SPI",
    const.NO_PROPOSAL_CHOSEN: "NO_PROPOSAL_CHOSEN", const.INVALID_KE_PAYLOAD: "INVALID_KE_PAYLOAD",
    const.AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED", const.SINGLE_PAIR_REQUIRED: "SINGLE_PAIR_REQUIRED",
    const.NO_ADDITIONAL_SAS: "NO_ADDITIONAL_SAS", const.INTERNAL_ADDRESS_FAILURE: "INTERNAL_ADDRESS_FAILURE",
    const.FAILED_CP_REQUIRED: "FAILED_CP_REQUIRED", const.TS_UNACCEPTABLE: "TS_UNACCEPTABLE",
    const.INVALID_SELECTORS: "INVALID_SELECTORS", const.UNACCEPTABLE_ADDRESSES: "UNACCEPTABLE_ADDRESSES",
    const.UNEXPECTED_NAT_DETECTED: "UNEXPECTED_NAT_DETECTED", const.TEMPORARY_FAILURE: "TEMPORARY_FAILURE",
    const.CHILD_SA_NOT_FOUND: "CHILD_SA_NOT_FOUND",
}


def notify(notify_type):
    """'NO_PROPOSAL_CHOSEN' for 14; 'notify 12345' for a type without a name here."""
    return _ERRORS.get(notify_type) or "notify %d" % notify_type
