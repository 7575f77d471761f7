# INFORMATIONAL (RFC 7296 1.4, 1.5): the peer's DELETEs and liveness checks, and our own requests on
# an established SA: liveness checks (DPD) when the peer has gone silent, DELETE on lifetime expiry,
# and the timer that starts our CHILD SA rekeys (rekey_child.py) at soft expiry.
# Retransmission of our requests is the responder's (responder.request / tick).
import time

import log
from ike import const
from ike import identity
from ike import message
from ike import sa as sa_mod

_LOG = log.Logger("ike")


def handle(r, s, msg, payloads):
    spis_in = []
    for p in payloads:
        if isinstance(p, message.Delete):
            if p.protocol == const.PROTO_IKE:
                _LOG.info("peer %s deleted IKE SA %s" % (s.name(), identity.spis(s)))
                s.doomed = "deleted by peer"
                return []
            if p.protocol != const.PROTO_ESP:
                continue
            for spi in p.spis:
                c = s.child_by_out(bytes(spi))
                if c is None:
                    continue
                # If our own DELETE for it crossed this one, the response must not name it (1.4.1).
                if c.state != sa_mod.DELETING:
                    spis_in.append(c.spi_in)
                r.remove_child(s, c, "deleted by peer")
        elif isinstance(p, message.Notify) and p.notify_type <= const.NOTIFY_ERROR_MAX:
            _LOG.warn("peer %s reports error %d in an INFORMATIONAL exchange" % (s.name(), p.notify_type))
    if spis_in:
        return [message.Delete(const.PROTO_ESP, spis_in)]
    return []


def delete_ike(r, s, why):
    """Send DELETE for the IKE SA (and so its CHILD SAs); the SA goes when answered or given up."""
    if s.state == sa_mod.DELETING:
        return
    s.state = sa_mod.DELETING
    r.changed()
    _LOG.info("deleting IKE SA %s with peer %s: %s" % (identity.spis(s), s.name(), why))

    def gone(r, s, payloads=None):
        r.remove(s, "deleted: " + why)

    if s.out is not None:
        s.out = None  # a DPD in flight no longer matters
    r.request(s, const.INFORMATIONAL, [message.Delete(const.PROTO_IKE, [])], gone, gone)


def delete_child(r, s, c, why):
    c.state = sa_mod.DELETING
    r.changed()

    def gone(r, s, payloads):
        if c in s.children:
            r.remove_child(s, c, "deleted: " + why)

    def timeout(r, s):
        r.remove(s, "deleted: peer did not answer the DELETE for CHILD SA %s"
                 % identity.hexs(c.spi_in))

    r.request(s, const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [c.spi_in])], gone, timeout)


def _dead(r, s):
    r.remove(s, "deleted: dead peer (no answer to a liveness check and %d retransmits)"
             % r.cfg.timers.retransmit_tries)


def _esp_seen(r, s):
    # ESP from the peer is as good a sign of life as IKE (RFC 7296 1.4 / 2.4).
    n = 0
    for c in s.children:
        if c.entry is not None:
            n += c.entry.counters.get("packets_in", 0)
    if n != s.esp_rx:
        s.esp_rx = n
        return True
    return False


def timers(r, s, now, age):
    """Our timers for an established SA with no request of ours in flight."""
    if s.state != sa_mod.ESTABLISHED:
        return
    peer = s.peer
    life = peer.ike_lifetime * 1000
    if life and age >= life:
        delete_ike(r, s, "IKE SA lifetime expired (peer did not rekey)")
        return
    for c in s.children:
        if c.state == sa_mod.REKEYED and time.ticks_diff(now, c.rekeyed_at) >= sa_mod.REKEYED_LINGER_MS:
            r.remove_child(s, c, "removed: replaced by rekey, peer never deleted it")
            return
        life = c.lifetime
        if c.state == sa_mod.ESTABLISHED and c.expired:
            delete_child(r, s, c, "ESP %s reached" % c.expired)
            return
        if c.state == sa_mod.ESTABLISHED and life and time.ticks_diff(now, c.created) >= life:
            delete_child(r, s, c, "CHILD SA lifetime expired (peer did not rekey)")
            return
        # Soft expiry: we rekey then unless the head office did first.
        soft = (peer.child_lifetime - peer.child_rekey_margin) * 1000
        due = c.rekey_due or time.ticks_diff(now, c.created) >= soft
        if (c.state == sa_mod.ESTABLISHED and due and not c.rekey_refused
                and (c.rekey_after is None or time.ticks_diff(now, c.rekey_after) >= 0)):
            from ike import rekey_child
            rekey_child.start(r, s, c)
            return
    delay = peer.dpd_delay * 1000
    if delay and time.ticks_diff(now, s.last_rx) >= delay:
        if _esp_seen(r, s):
            s.last_rx = now
            return
        _LOG.debug("peer %s silent for %d s: liveness check" % (s.name(), delay // 1000))
        r.request(s, const.INFORMATIONAL, [], None, _dead)
