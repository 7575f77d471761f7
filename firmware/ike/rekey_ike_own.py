# IKE SA rekey started by us (RFC 7296 1.3.2, 2.18) at soft expiry (ike_lifetime - ike_rekey_margin),
# for a head office that rekeys later than that or never (IOS-XE's and VRP's IKE lifetime is 24 h):
# without it the IKE SA, and every CHILD SA with it, would be deleted at its lifetime. We become the
# new IKE SA's original initiator: our new SPI is its SPIi, our messages on it carry the Initiator
# flag, we send with SK_ei/SK_ai (rekey_ike.install). The CHILD SAs move to it and we delete the old
# SA. A rekey of the same SA by the peer while ours is in flight gets TEMPORARY_FAILURE (create.py;
# RFC 7296 2.25's answer when a rekey in progress prevents a request), so only one new SA comes up
# and no redundant one has to be settled by nonces (2.8.2). A refusal (TEMPORARY_FAILURE) is retried
# shortly; INVALID_KE_PAYLOAD once, with the group the peer names; anything else leaves the SA to its
# hard expiry.
import os
import time

import log
from crypto import dh
from ike import const
from ike import identity
from ike import message
from ike import rekey_answer
from ike import sa as sa_mod
from ike import selection

NONCE_LEN = 32
RETRY_MS = 2000

_LOG = log.Logger("ike")


def start(r, s, group=None):
    """Send the rekey request for IKE SA s (no request of ours may be in flight). group: the DH
    group of our KE; by default the SA's own, which the peer accepted once already."""
    spi = r.new_ike_spi()
    ni = os.urandom(NONCE_LEN)
    group = group or s.chosen.dh
    kp = r.take_dh(group)
    p = [message.Sa(selection.offer(s.peer.ike_proposals, spi)), message.Nonce(ni), message.Ke(group, kp.public)]
    _LOG.info("rekeying IKE SA %s with peer %s" % (identity.spis(s), s.name()))
    r.request(s, const.CREATE_CHILD_SA, p, sa_mod.REKEY_IKE, (spi, ni, kp))


def _give_up(r, s, why, retry):
    s.rekey_after = time.ticks_add(time.ticks_ms(), RETRY_MS)
    s.rekey_refused = not retry  # then the SA is left to its hard expiry
    _LOG.warn("rekey of IKE SA %s: %s" % (identity.spis(s), why))


def answered(r, s, arg, payloads):
    """The peer's answer to our rekey of IKE SA s (payloads), or None: it never came. arg is what
    start kept for it: (our new SPI, Ni, our DH keypair)."""
    if payloads is None:
        r.remove(s, "deleted: peer did not answer our IKE SA rekey")
        return
    if s.state != sa_mod.ESTABLISHED:
        return  # the peer deleted it meanwhile
    spi_i, ni, kp = arg
    err, sa_p, nonce, ke, _, _ = rekey_answer.read(payloads)
    if err is not None:
        g = rekey_answer.retry_group(err, kp)
        if g is not None:
            return start(r, s, g)
        return _give_up(r, s, rekey_answer.refusal(s, err), err.notify_type == const.TEMPORARY_FAILURE)
    if sa_p is None or nonce is None or ke is None or not 16 <= len(nonce.data) <= 256:
        return _give_up(r, s, "peer %s answered without SA, nonce or KE" % s.name(), False)
    chosen = selection.select(s.peer.ike_proposals, sa_p.proposals, const.PROTO_IKE, ke.group)
    if chosen is None or len(chosen.spi) != 8 or len(sa_p.proposals) != 1 or chosen.dh != kp.group:
        from ike import proposal  # to name the peer's algorithms
        return _give_up(r, s, "peer %s chose %s, which we did not offer"
                        % (s.name(), proposal.describe_proposals(sa_p.proposals)), False)
    try:
        gir = kp.shared(ke.data)
    except dh.DhError as e:
        return _give_up(r, s, "peer %s sent an invalid DH public value: %s" % (s.name(), e), False)
    from ike import rekey_ike
    rekey_ike.install(r, s, chosen, gir, ni, bytes(nonce.data), spi_i, bytes(chosen.spi), const.FLAG_INITIATOR)
    from ike import info
    info.delete_ike(r, s, "rekeyed")
