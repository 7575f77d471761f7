# IKE SA rekey, responder side (RFC 7296 1.3.2, 2.18): a new IKE SA with fresh SPIs, nonces and DH,
# keyed from the old SA's SK_d; the CHILD SAs move over. The old SA stays until the peer deletes it.
# handle() checks the request; the DH, the new SA and the answer come once the exchange's code and the
# parsed request have gone (finish(), ike/later.py): the DH is the peak of an hour of rekeys.
# install() also serves the rekeys we start (rekey_ike_own.py).
import time

import log
from crypto import dh
from ike import algos
from ike import const
from ike import keys
from ike import message
from ike import sa as sa_mod
from ike import responder
from ike import sk

_LOG = log.Logger("ike")


def _error(notify_type, data=b""):
    return [message.Notify(0, b"", notify_type, data)]


def handle(r, s, msg_id, payloads, sa_p, ni, nr):
    ke = None
    for p in payloads:
        if isinstance(p, message.Ke):
            ke = p
    specs = r.ike_specs()
    # Imported here, not kept in this module's globals: unloaded once done.
    from ike import selection
    chosen = selection.select(specs, sa_p.proposals, const.PROTO_IKE, ke.group if ke is not None else None)
    selection = None
    responder.unload("ike.selection")
    if chosen is None:
        from ike import proposal  # to name both sides' algorithms
        _LOG.warn("proposal mismatch for IKE SA rekey with peer %s: peer offered %s, we accept %s" % (
            s.name(), proposal.describe_proposals(sa_p.proposals), proposal.describe_specs(specs)))
        return _error(const.NO_PROPOSAL_CHOSEN)
    if ke is None or ke.group != chosen.dh:
        g = chosen.dh
        _LOG.info("peer %s rekeys the IKE SA with %s, we want DH group %d: asked it to retry "
                  "(INVALID_KE_PAYLOAD)" % (s.name(), "no KE" if ke is None else "DH group %d" % ke.group, g))
        return _error(const.INVALID_KE_PAYLOAD, bytes((g >> 8, g & 0xFF)))
    if len(chosen.spi) != 8:
        _LOG.warn("peer %s proposed an IKE SPI of %d bytes in a rekey" % (s.name(), len(chosen.spi)))
        return _error(const.INVALID_SYNTAX)
    try:
        dh.check(ke.group, ke.data)
    except dh.DhError as e:
        _LOG.warn("peer %s sent an invalid DH public value for group %d: %s" % (s.name(), ke.group, e))
        return _error(const.INVALID_SYNTAX)
    chosen.spi = bytes(chosen.spi)
    r.later = (s, msg_id, ke.group, bytes(ke.data), "ike.rekey_ike", (chosen, ni, nr))
    return None  # finish() answers (ike/later.py)


def finish(r, s, kp, gir, chosen, ni, nr):
    """The rekey once its DH is done (ike/later.py): the new SA; the answer's payloads."""
    spi_r = r.new_ike_spi()
    install(r, s, chosen, gir, ni, nr, chosen.spi, spi_r, 0)
    s.state = sa_mod.REKEYED
    s.rekeyed_at = time.ticks_ms()
    return [message.Sa([chosen.to_payload_proposal(spi_r)]), message.Nonce(nr), message.Ke(chosen.dh, kp.public)]


def install(r, s, chosen, gir, ni, nr, spi_i, spi_r, flags):
    """The IKE SA that replaces s, keyed from the rekey's DH secret gir and nonces, with s's CHILD
    SAs, added to the responder's table. flags: FLAG_INITIATOR if we started the rekey (we are then
    the new SA's original initiator and send with SK_ei/SK_ai), else 0."""
    # Apart from handle(): a transient module's functions are loaded as one block each, and a
    # smaller block finds room in a heap the SAs have fragmented.
    n = sa_mod.IkeSa(spi_i, spi_r, s.remote, s.natt)
    n.flags = flags
    n.nat = s.nat
    n.chosen = algos.kept(chosen)
    n.peer = s.peer
    n.state = sa_mod.ESTABLISHED
    elen = keys.key_bytes(chosen.encr, chosen.keylen)
    k = keys.ike_keys(keys.rekey_skeyseed(s.sk_d, gir, ni, nr), ni, nr, spi_i, spi_r, elen)
    n.sk_d = k.sk_d
    from_i = sk.SkCodec(chosen.encr, k.sk_ei, k.sk_ai)
    from_r = sk.SkCodec(chosen.encr, k.sk_er, k.sk_ar)
    n.rx, n.tx = (from_r, from_i) if flags else (from_i, from_r)
    n.children = s.children
    s.children = []
    r.add(n, None)
    from ike import identity  # for the log line only, once the DH's and key derivation's garbage is gone
    _LOG.info("IKE SA %s rekeyed by %s with peer %s: %s" % (identity.spis(s), identity.spis(n), n.name(), n.chosen))
