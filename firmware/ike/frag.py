# IKE message fragmentation (RFC 7383), receiving side. A peer that saw IKEV2_FRAGMENTATION_SUPPORTED
# in our IKE_SA_INIT answer may split an encrypted message into SKF fragments, each encrypted and
# authenticated on its own; strongSwan does so for messages over 1280 bytes, which would otherwise
# reach the device as IP fragments, and lwIP on the chip does not reassemble those. One message per
# IKE SA is collected at a time (requests and responses each have a window of one), a fragment is
# kept only once its ICV checks, and the whole decodes once every fragment is in. What the device
# sends stays unfragmented: its messages are a few hundred bytes (PSK, no certificates).
from ike import message
from ike.message import ParseError

MAX_FRAGMENTS = 16   # more than any message a PSK peer sends needs
# Plaintext kept, at most, for one message and for all IKE SAs together: a half-open SA's keys come
# from an unauthenticated peer, who could otherwise park fragments in every half-open slot. A
# PSK IKE_AUTH is under 2 KB.
MAX_BYTES = 4096
ALL_BYTES = 8192


def _held(s):
    n = 0
    if s.frags is not None:
        for p in s.frags[3]:
            if p is not None:
                n += len(p)
    return n


def add(r, s, data, msg):
    """The SKF fragment `data` (decoded: msg) of IKE SA s of responder r -> (payloads,
    unsupported_critical) once the message is whole, else None. Raises sk.IntegrityError or
    ParseError, as SkCodec.open does."""
    f = msg.payloads[-1]
    if f.total > MAX_FRAGMENTS:
        raise ParseError("%d fragments (at most %d taken)" % (f.total, MAX_FRAGMENTS))
    plain = s.rx.open_fragment(data, msg)  # checked before anything is kept
    key = (msg.msg_id, msg.is_response)
    st = s.frags
    if st is not None and st[0] == key and f.total < st[1]:
        return None  # of an earlier split into fewer, bigger fragments: the peer has re-split it
    if st is None or st[0] != key or f.total > st[1]:
        # Another message, or this one split anew into more fragments (2.6: start over).
        st = s.frags = [key, f.total, 0, [None] * f.total]
    parts = st[3]
    k = f.number - 1
    if parts[k] is not None:
        return None  # a duplicate
    if f.number == 1:
        st[2] = f.inner_type
    mine = _held(s) + len(plain)
    if mine > MAX_BYTES:
        s.frags = None
        raise ParseError("fragmented message over %d bytes" % MAX_BYTES)
    parts[k] = plain
    for p in parts:
        if p is None:
            break
    else:
        s.frags = None
        return message.decode_payloads(st[2], b"".join(parts))
    # Kept until the rest comes: within what all SAs may hold (the one that completes a message
    # always gets through).
    total = mine
    for o in r.sas.values():
        if o is not s:
            total += _held(o)
    if total > ALL_BYTES:
        parts[k] = None
        raise ParseError("fragment dropped: %d bytes of fragments held already" % (total - len(plain)))
    return None
