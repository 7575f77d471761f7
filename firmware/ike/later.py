# The second half of a CREATE_CHILD_SA with a key exchange (an IKE SA rekey, a CHILD SA with PFS),
# run once the exchange's code and the parsed request have left the heap (Responder._commit): the DH
# is the exchange's peak, ~10 KB lower so. The handler checked the request and the peer's public
# value, then set r.later to (s, msg_id, group, the peer's value, module, args) instead of answering.
# A transient module, as the exchange's are.
import gc

import log
from crypto import dh
from ike import const
from ike import message

_LOG = log.Logger("ike")


def run(r):
    """g^ir with a key pair of the group, then module.finish(r, s, kp, g^ir, *args) returns the
    answer's payloads."""
    s, msg_id, group, peer, module, args = r.later
    r.later = None
    gir = None
    try:
        kp = r.take_dh(group)
        gir = kp.shared(peer)
    except MemoryError:
        # Nothing has changed yet: the request is taken anew when the peer retransmits it.
        gc.collect()
        return _LOG.warn("no memory for the DH of request %d from peer %s: not answered" % (msg_id, s.name()))
    except dh.DhError as e:  # a value dh.check let pass by mistake
        _LOG.warn("peer %s sent an invalid DH public value for group %d: %s" % (s.name(), group, e))
    from ike import exchange  # after the DH: it seals the answer
    if gir is None:
        return exchange.respond(r, s, const.CREATE_CHILD_SA, msg_id, [message.Notify(0, b"", const.INVALID_SYNTAX)])
    before = list(r.sas)
    try:
        payloads = __import__(module, None, None, ("finish",)).finish(r, s, kp, gir, *args)
        exchange.respond(r, s, const.CREATE_CHILD_SA, msg_id, payloads)
    except MemoryError:
        exchange.dropped(r, s, before, const.CREATE_CHILD_SA)
