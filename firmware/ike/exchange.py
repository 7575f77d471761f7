# A request with a new message ID on an IKE SA, once the responder has checked its window and its
# integrity: the SA follows the peer's address, the module of its exchange (auth, create, info)
# answers, and the response is cached for retransmissions; a CREATE_CHILD_SA with a key exchange (an
# IKE SA rekey, a CHILD SA with PFS) is answered after its DH, once this code has gone (ike/later.py).
# A transient module of the responder, as those are: between exchanges only the responder's
# retransmission path stays in the heap.
import gc

import log
from ike import const
from ike import message
from ike import sa as sa_mod
from net import addr

_LOG = log.Logger("ike")


def handle(r, s, exchange, msg_id, msg, payloads, remote, natt):
    _follow(r, s, remote, natt)
    before = list(r.sas)
    try:
        _dispatch(r, s, exchange, msg_id, msg, payloads)
    except MemoryError:
        r.later = None
        dropped(r, s, before, exchange)


def dropped(r, s, before, exchange):
    """An exchange on s ran out of memory and may be half done: rather than keep an SA in a state
    nobody knows, drop it and any SA made since `before` (a list of SPIs); the peer starts over."""
    for spi in list(r.sas):
        if spi not in before:
            r.remove(r.sas[spi], "dropped: out of memory")
    r.remove(s, "dropped: out of memory while handling exchange %d" % exchange)
    gc.collect()


def respond(r, s, exchange, msg_id, payloads):
    """Seal the response to request msg_id on s and cache it for retransmissions; it is sent once
    the exchange's code has gone and its CHILD SAs are in (Responder._commit)."""
    m = message.Message(s.spi_i, s.spi_r, exchange, const.FLAG_RESPONSE | s.flags, msg_id, payloads)
    s.resp = s.tx.seal(m)
    s.rx_id = msg_id + 1
    r.answer = s


def _dispatch(r, s, exchange, msg_id, msg, payloads):
    if msg.unsupported_critical is not None:
        _LOG.warn("peer %s sent critical payload type %d we do not support" % (s.name(), msg.unsupported_critical))
        reply = [message.Notify(0, b"", const.UNSUPPORTED_CRITICAL_PAYLOAD,
                                bytes((msg.unsupported_critical,)))]
    elif exchange == const.IKE_AUTH:
        from ike import auth
        reply = auth.handle(r, s, msg, payloads)
    elif exchange == const.CREATE_CHILD_SA:
        from ike import create
        reply = create.handle(r, s, msg, payloads)
        if reply is None:
            return None  # answered after its DH, once this code has gone (ike/later.py)
    elif exchange == const.INFORMATIONAL:
        from ike import info
        reply = info.handle(r, s, msg, payloads)
    else:
        return r.drop("exchange type %d not supported" % exchange)
    respond(r, s, exchange, msg_id, reply)
    if s.doomed:
        if s.state == sa_mod.HALF_OPEN:
            auth.answered(r, s)  # a failed IKE_AUTH: its answer stays for a retransmission
        else:
            r.remove(s, s.doomed)
    return None


def _follow(r, s, remote, natt):
    # IKE floats to 4500 in IKE_AUTH; later, a NAT may rebind the peer's port (2.23). ESP follows.
    if natt == s.natt and addr.key(remote) == addr.key(s.remote):
        return
    if s.state != sa_mod.HALF_OPEN and not s.nat:
        return
    if s.state != sa_mod.HALF_OPEN:
        _LOG.info("peer %s moved to %s" % (s.name(), addr.describe(remote)))
        r.changed()  # the status view shows the new mapping with this request's log lines
    s.remote = remote
    s.natt = natt
    for c in s.children:
        if c.entry is not None:
            c.entry.peer = remote
