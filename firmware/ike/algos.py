# The algorithm records of a negotiation: Spec (one configured proposal, held by the config) and
# Chosen (what was selected from a peer's proposal, held by each SA). Kept apart from ike/proposal.py
# (parsing) and ike/selection.py, loaded only while the config is validated or an exchange negotiates:
# a class keeps its module's globals alive, so records that outlive a negotiation must not have
# their class there. Their names (str(), strongSwan's syntax) come from ike/names.py, loaded when
# they are named.
from ike import const


def __getattr__(name):
    # describe and KEYWORDS: in ike/names.py (see there).
    from ike import names
    return getattr(names, name)


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
        from ike import names
        return names.describe(self.protocol, self.encr, self.integ, self.prf, self.dh, self.esn)

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

    name = None  # str() of a shared record (kept), once made: logging an SA then loads no ike.names

    def __str__(self):
        if self.name is not None:
            return self.name
        from ike import names
        prf = [] if self.prf is None else [self.prf]
        dh = [] if self.dh is None else [self.dh]
        esn = []
        if self.protocol == const.PROTO_ESP:
            esn = [const.ESN if self.esn else const.NO_ESN]
        text = names.describe(self.protocol, [(self.encr, self.keylen)], [self.integ], prf, dh, esn)
        if self in _KEPT:
            self.name = text
        return text


_KEPT = []  # the Chosen records SAs hold: one per set of algorithms negotiated so far


def kept(c):
    """The record an SA keeps of `c`: shared by every SA with the same algorithms (each SA its own
    copy would cost ~250 bytes, and all SAs of a device negotiate the same few sets), without what
    only the negotiation needed (proposal number, the peer's SPI). Bounded by the configured
    proposals."""
    for k in _KEPT:
        if (k.protocol == c.protocol and k.encr == c.encr and k.keylen == c.keylen and k.integ == c.integ
                and k.prf == c.prf and k.dh == c.dh and k.esn == c.esn):
            return k
    k = Chosen(0, c.protocol, b"", c.encr, c.keylen, c.integ, c.prf, c.dh, c.esn)
    _KEPT.append(k)
    return k
