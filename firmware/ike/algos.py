# The algorithm records of a negotiation: Spec (one configured proposal, held by the config) and
# Chosen (what was selected from a peer's proposal, held by each SA). Kept apart from ike/proposal.py
# (parsing, selection), which is loaded only while the config is validated or an exchange negotiates:
# a class keeps its module's globals alive, so records that outlive a negotiation must not have
# their class there. Their names (str(), strongSwan's syntax) come from the few keywords below for
# what we support (every Spec, every Chosen); anything else takes ike/words.py's full tables.
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


class Spec:
    """One configured proposal: per transform type, algorithms in preference order."""

    def __init__(self, protocol, encr, integ, prf, dh, esn):
        self.protocol = protocol
        self.encr = encr  # [(id, keylen or None)]
        self.integ = integ  # [id]
        self.prf = prf  # [id]; IKE only
        self.dh = dh  # [group]; DH_NONE (0) in an ESP list = PFS optional
        self.esn = esn  # [NO_ESN/ESN]; ESP only

    def __str__(self):
        return describe(self.protocol, self.encr, self.integ, self.prf, self.dh, self.esn)

    def __repr__(self):
        return "Spec(%s)" % self


class Chosen:
    """The algorithms selected from one peer proposal. `spi` is the peer's SPI from that proposal
    (for ESP: our outbound SPI). `dh` is None without a key exchange (ESP without PFS, or skip_dh)."""

    def __init__(self, proposal_num, protocol, spi, encr, keylen, integ, prf, dh, esn):
        self.proposal_num = proposal_num
        self.protocol = protocol
        self.spi = spi
        self.encr = encr
        self.keylen = keylen
        self.integ = integ
        self.prf = prf
        self.dh = dh
        self.esn = esn

    def to_payload_proposal(self, spi=b""):
        """The Proposal for our reply's SA payload, carrying OUR spi: empty in IKE_SA_INIT, our new
        IKE SPI (8 bytes) in an IKE rekey, our inbound SPI (4 bytes) for ESP."""
        from ike import message
        t = [message.Transform(const.TRANS_ENCR, self.encr, self.keylen)]
        if self.prf is not None:
            t.append(message.Transform(const.TRANS_PRF, self.prf))
        t.append(message.Transform(const.TRANS_INTEG, self.integ))
        if self.dh is not None:
            t.append(message.Transform(const.TRANS_DH, self.dh))
        if self.protocol == const.PROTO_ESP:
            t.append(message.Transform(const.TRANS_ESN, const.ESN if self.esn else const.NO_ESN))
        return message.Proposal(self.proposal_num, self.protocol, spi, t)

    def __str__(self):
        prf = [] if self.prf is None else [self.prf]
        dh = [] if self.dh is None else [self.dh]
        esn = []
        if self.protocol == const.PROTO_ESP:
            esn = [const.ESN if self.esn else const.NO_ESN]
        return describe(self.protocol, [(self.encr, self.keylen)], [self.integ], prf, dh, esn)
