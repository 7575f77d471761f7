# INFORMATIONAL (RFC 7296 1.4, 1.5): the peer's DELETEs and liveness checks, and our own DELETEs on
# an established SA. The timers that decide when we delete, rekey or check liveness, and the
# retransmission of our requests, are the responder's (responder.tick); this module is loaded only
# while an INFORMATIONAL exchange is handled, a DELETE of ours is started or answered (or given up),
# or we shut down (a transient module).
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
        elif isinstance(p, message.Notify) and p.notify_type == const.AUTHENTICATION_FAILED:
            # The peer could not verify our AUTH (2.21.2) and has dropped the IKE SA: so do we.
            _LOG.warn("peer %s rejected our authentication (AUTHENTICATION_FAILED): check what it expects "
                      "of this device: the identity (we are %s), the PSK, PSK as the method"
                      % (s.name(), identity.describe(r.cfg.id.type, r.cfg.id.data)))
            s.doomed = "closed: the peer rejected our authentication"
            return []
        elif isinstance(p, message.Notify) and p.notify_type <= const.NOTIFY_ERROR_MAX:
            from ike import names
            _LOG.warn("peer %s reports %s in an INFORMATIONAL exchange" % (s.name(), names.notify(p.notify_type)))
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
    if s.out is not None:
        s.out = None  # a DPD in flight no longer matters
    r.request(s, const.INFORMATIONAL, [message.Delete(const.PROTO_IKE, [])], sa_mod.DELETE, (None, why))


def delete_child(r, s, c, why):
    c.state = sa_mod.DELETING
    r.changed()
    r.request(s, const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [c.spi_in])], sa_mod.DELETE, (c, why))


def answered(r, s, arg, payloads):
    """The peer's answer to our DELETE (payloads), or None: it never came. arg: (the CHILD SA, or None
    for the IKE SA; why it is deleted)."""
    c, why = arg
    if c is None:
        r.remove(s, "deleted: " + why)  # answered or not
    elif payloads is None:
        r.remove(s, "deleted: peer did not answer the DELETE for CHILD SA %s" % identity.hexs(c.spi_in))
    elif c in s.children:
        r.remove_child(s, c, "deleted: " + why)


def shutdown(r):
    """DELETE for each IKE SA, sent once: we will not be here for the answer."""
    for s in list(r.sas.values()):
        if s.state in (sa_mod.ESTABLISHED, sa_mod.DELETING) and s.tx is not None:
            m = message.Message(s.spi_i, s.spi_r, const.INFORMATIONAL, s.flags, s.tx_id,
                                [message.Delete(const.PROTO_IKE, [])])
            s.tx_id += 1
            r.send(s, s.tx.seal(m))
            r.remove(s, "deleted: shutting down")
    r.flush_status(time.ticks_ms())
