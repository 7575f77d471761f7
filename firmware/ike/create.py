# CREATE_CHILD_SA, responder side (RFC 7296 1.3): a new CHILD SA, a CHILD SA rekey (REKEY_SA names
# the SA being replaced), or an IKE SA rekey (the SA payload proposes protocol IKE).
# Collisions (2.8.1, 2.25): a rekey of a CHILD SA we are rekeying ourselves is answered as usual
# (rekey_child.py settles which new SA stays); of one we are deleting or have replaced,
# TEMPORARY_FAILURE / CHILD_SA_NOT_FOUND; an IKE SA rekey while a request of ours is in flight,
# TEMPORARY_FAILURE. strongSwan retries later after TEMPORARY_FAILURE.
import os

import log
from ike import const
from ike import message
from ike import sa as sa_mod

NONCE_LEN = 32

_LOG = log.Logger("ike")


def _error(notify_type, protocol=0, spi=b""):
    return [message.Notify(protocol, spi, notify_type)]


def handle(r, s, msg, payloads):
    sa_p = nonce = rekey = None
    for p in payloads:
        if isinstance(p, message.Sa):
            sa_p = sa_p or p
        elif isinstance(p, message.Nonce):
            nonce = p
        elif isinstance(p, message.Notify) and p.notify_type == const.REKEY_SA:
            rekey = p
    if sa_p is None or nonce is None or not sa_p.proposals or not 16 <= len(nonce.data) <= 256:
        _LOG.warn("CREATE_CHILD_SA from peer %s lacks SA or nonce" % s.name())
        return _error(const.INVALID_SYNTAX)
    if s.state != sa_mod.ESTABLISHED:
        _LOG.info("CREATE_CHILD_SA from peer %s while the IKE SA is %s: TEMPORARY_FAILURE"
                  % (s.name(), sa_mod.STATES[s.state]))
        return _error(const.TEMPORARY_FAILURE)
    ni = bytes(nonce.data)
    nr = os.urandom(NONCE_LEN)
    if sa_p.proposals[0].protocol == const.PROTO_IKE:
        if s.out is not None:
            # Our own exchange is in flight on this SA; strongSwan retries the rekey shortly.
            _LOG.info("IKE SA rekey from peer %s collides with our pending request: TEMPORARY_FAILURE"
                      % s.name())
            return _error(const.TEMPORARY_FAILURE)
        from ike import rekey_ike  # only for an IKE SA rekey: most are CHILD SA ones
        return rekey_ike.handle(r, s, msg.msg_id, payloads, sa_p, ni, nr)
    from ike import child  # not for an IKE SA rekey: its code and selectors' stay out of that peak
    old = None
    if rekey is not None:
        old = s.child_by_out(bytes(rekey.spi))
        if old is None:
            _LOG.info("peer %s rekeys CHILD SA %s which we do not have: CHILD_SA_NOT_FOUND"
                      % (s.name(), child._hex(rekey.spi)))
            return _error(const.CHILD_SA_NOT_FOUND, const.PROTO_ESP, bytes(rekey.spi))
        if old.state != sa_mod.ESTABLISHED and old.state != sa_mod.REKEYING:
            _LOG.info("peer %s rekeys CHILD SA %s which is %s: TEMPORARY_FAILURE"
                      % (s.name(), child._hex(rekey.spi), sa_mod.STATES[old.state]))
            return _error(const.TEMPORARY_FAILURE)
    # None when a KE leaves the answer for after the DH (child.finish)
    return child.negotiate(r, s, payloads, ni, nr, message.Nonce(nr), old, msg.msg_id)
