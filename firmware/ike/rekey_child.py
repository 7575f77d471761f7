# CHILD SA rekey started by us (RFC 7296 1.3.3) at soft expiry (lifetime - rekey margin), for when
# the head office does not rekey first. If the peer rekeys the same SA at the same time (2.8.1),
# both new SAs come up; the one made by the exchange holding the lowest of the four nonces is
# redundant and is deleted by the side that started that exchange, and the other side deletes the
# old SA. A refusal (TEMPORARY_FAILURE) is retried shortly; INVALID_KE_PAYLOAD once, with the group
# the peer names; anything else leaves the SA to its hard expiry.
import os
import time

import log
from crypto import dh
from ike import const
from ike import keys
from ike import message
from ike import rekey_answer
from ike import sa as sa_mod
from ike import selection

NONCE_LEN = 32
RETRY_MS = 2000

_LOG = log.Logger("ike")


def _first_group(specs):
    for spec in specs:
        for g in spec.dh:
            if g != const.DH_NONE:
                return g
    return None


def _hex(b):
    return "".join(["%02x" % x for x in b])


def start(r, s, c, group=None):
    """Send the rekey request for CHILD SA c of IKE SA s (no request of ours may be in flight)."""
    specs = s.peer.esp_proposals
    spi_in = r.sad.new_spi()
    ni = os.urandom(NONCE_LEN)
    group = group or _first_group(specs)
    kp = r.take_dh(group) if group else None
    p = [message.Notify(const.PROTO_ESP, c.spi_in, const.REKEY_SA), message.Sa(selection.offer(specs, spi_in)),
         message.Nonce(ni)]
    if kp is not None:
        p.append(message.Ke(group, kp.public))
    p += message.decode_payloads(const.PT_TSI, c.selectors)[0]  # TSi, TSr as the SA has them
    c.state = sa_mod.REKEYING
    c.rekey_due = False
    c.collision = None
    _LOG.info("rekeying CHILD SA %s_i with peer %s" % (_hex(c.spi_in), s.name()))
    r.request(s, const.CREATE_CHILD_SA, p, sa_mod.REKEY_CHILD, (c, spi_in, ni, kp))


def _give_up(r, c, why, retry):
    c.state = sa_mod.ESTABLISHED
    c.rekey_after = time.ticks_add(time.ticks_ms(), RETRY_MS)
    c.rekey_due = retry
    c.rekey_refused = not retry  # then the SA is left to its hard expiry
    _LOG.warn("rekey of CHILD SA %s_i: %s" % (_hex(c.spi_in), why))
    r.changed()


def answered(r, s, arg, payloads):
    """The peer's answer to our rekey of CHILD SA c (payloads), or None: it never came. arg is what
    start kept for it: (c, our new SPI, Ni, our DH keypair or None)."""
    if payloads is None:
        r.remove(s, "deleted: peer did not answer our CHILD SA rekey")
        return
    c, spi_in, ni, kp = arg
    if c not in s.children:
        return  # the peer deleted it meanwhile
    err, sa_p, nonce, ke, tsi, tsr = rekey_answer.read(payloads)
    if err is not None:
        g = rekey_answer.retry_group(err, kp)
        if g is not None:
            c.state = sa_mod.ESTABLISHED
            return start(r, s, c, g)
        return _give_up(r, c, rekey_answer.refusal(s, err), err.notify_type == const.TEMPORARY_FAILURE)
    if sa_p is None or nonce is None or tsi is None or tsr is None:
        return _give_up(r, c, "peer %s answered without SA, nonce or selectors" % s.name(), False)
    specs = s.peer.esp_proposals
    chosen = selection.select(specs, sa_p.proposals, const.PROTO_ESP, ke.group if ke is not None else None)
    if chosen is None or len(chosen.spi) != 4 or len(sa_p.proposals) != 1:
        from ike import proposal  # to name the peer's algorithms
        return _give_up(r, c, "peer %s chose %s, which we did not offer"
                        % (s.name(), proposal.describe_proposals(sa_p.proposals)), False)
    gir = None
    if chosen.dh is not None:
        if ke is None or kp is None or ke.group != chosen.dh or kp.group != ke.group:
            return _give_up(r, c, "peer %s chose PFS group %d without a matching KE" % (s.name(), chosen.dh), False)
        try:
            gir = kp.shared(ke.data)
        except dh.DhError as e:
            return _give_up(r, c, "peer %s sent an invalid DH public value: %s" % (s.name(), e), False)
    nr = bytes(nonce.data)
    elen = keys.key_bytes(chosen.encr, chosen.keylen)
    # We started this exchange: the "initiator" keys are the ones we send with.
    enc_i, auth_i, enc_r, auth_r = keys.child_keymat(s.sk_d, ni, nr, elen, 32, gir)
    local_ts = tsi.selectors
    remote_ts = tsr.selectors
    n = sa_mod.ChildSa(spi_in, bytes(chosen.spi), chosen, local_ts, remote_ts, c.lifetime)
    r.install_later(s, n, (spi_in, n.spi_out, chosen.encr, elen * 8, enc_r, auth_r, enc_i, auth_i,
                           local_ts, remote_ts, s.remote, s.nat))
    s.children.append(n)
    _LOG.info("CHILD SA %s_i rekeyed by %s_i %s_o: %s" % (_hex(c.spi_in), _hex(spi_in), _hex(n.spi_out), n.chosen))
    from ike import info  # for the DELETE that ends it; not needed to start a rekey
    col = c.collision
    c.collision = None
    if col is not None and min(ni, nr) < min(col[0], col[1]):
        # Ours holds the lowest nonce: ours is the redundant one; the peer deletes the old SA.
        c.state = sa_mod.REKEYED
        c.rekeyed_at = time.ticks_ms()
        info.delete_child(r, s, n, "redundant after a rekey collision")
    else:
        # No collision, or the peer's SA is the redundant one (the peer deletes it): the old goes.
        c.state = sa_mod.ESTABLISHED
        info.delete_child(r, s, c, "rekeyed")
