# IKE message fragmentation (RFC 7383), receiving side. A peer that saw IKEV2_FRAGMENTATION_SUPPORTED
# in our IKE_SA_INIT answer may split an encrypted message into SKF fragments, each encrypted and
# authenticated on its own; strongSwan does so for messages over 1280 bytes, which would otherwise
# reach the device as IP fragments, and lwIP on the chip does not reassemble those. One message per
# IKE SA is collected at a time (requests and responses each have a window of one), a fragment is
# kept only once its ICV checks, and the whole decodes once every fragment is in. What the device
# sends stays unfragmented: its messages are a few hundred bytes (PSK, no certificates).
from ike import message
from ike.message import ParseError

MAX_FRAGMENTS = 16   # 16 x 1280 bytes: more than any message a PSK peer sends
MAX_BYTES = 8192     # plaintext kept for one message, at most


def add(s, data, msg):
    """The SKF fragment `data` (decoded: msg) of IKE SA s -> (payloads, unsupported_critical) once the
    message is whole, else None. Raises sk.IntegrityError or ParseError, as SkCodec.open does."""
    f = msg.payloads[-1]
    if f.total > MAX_FRAGMENTS:
        raise ParseError("%d fragments (at most %d taken)" % (f.total, MAX_FRAGMENTS))
    plain = s.rx.open_fragment(data, msg)  # checked before anything is kept
    key = (msg.msg_id, msg.is_response)
    st = s.frags
    if st is not None and st[0] == key and f.total < st[1]:
        return None  # from an earlier, larger split of this message: the peer resends it smaller
    if st is None or st[0] != key or f.total > st[1]:
        # Another message, or this one split anew into more fragments (2.6: start over).
        st = s.frags = [key, f.total, 0, [None] * f.total]
    parts = st[3]
    k = f.number - 1
    if parts[k] is not None:
        return None  # a duplicate
    if f.number == 1:
        st[2] = f.inner_type
    size = len(plain)
    for p in parts:
        if p is not None:
            size += len(p)
    if size > MAX_BYTES:
        s.frags = None
        raise ParseError("fragmented message over %d bytes" % MAX_BYTES)
    parts[k] = plain
    for p in parts:
        if p is None:
            return None
    s.frags = None
    return message.decode_payloads(st[2], b"".join(parts))
