# IKEv2 message codec (RFC 7296 section 3, RFC 7383 section 2.5): datagram bytes <-> Message with
# payload objects. Decoding trusts nothing: every length and count is checked and anything malformed
# raises ParseError, never another exception. Encoding sizes the message first and writes it into one
# preallocated bytearray.
#
# Table-driven, to keep the module small in RAM (on the chip every class costs the heap ~200 bytes, every
# function ~100 plus its bytecode, every long string literal ~70): a payload class is made by type() and
# holds only its type number and _f = (layout, attribute names in constructor order); one constructor
# (Payload.__init__) serves them all, _size/_put/_parse encode and decode them all (a fixed header and
# then data, by the layout; Notify and Delete by a branch each), and the ParseError reasons are one
# string (_fail). The payloads only negotiations carry (SA, KE, Nonce, ID, AUTH, TS, CP...) are
# ike/structs.py's, imported when one is named or met and unloaded with the exchange.
from ike import const

HEADER_LEN = const.HEADER_LEN


class ParseError(ValueError):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def reason(s, k, args):
    # ParseError with reason number k of table s (one reason a line), formatted with args. The reasons
    # of a module share one string object on the heap; one literal per raise would cost ~70 bytes each.
    i = 0
    for _ in range(k):
        i = s.find("\n", i) + 1
    return ParseError(s[i:s.find("\n", i)] % args)


def _fail(k, args=()):
    return reason(
        "too short\n"  # 0
        "unknown protocol %d\n"  # 1
        "SPI size %d for protocol %d\n"  # 2
        "%d SPIs do not fill %d bytes\n"  # 3
        "IKE SA delete carries data\n"  # 4
        "payload %d truncated\n"  # 5
        "payload %d length %d, %d bytes left\n"  # 6
        "payload %d inside an encrypted payload\n"  # 7
        "payload %d not last\n"  # 8
        "SKF payload too short\n"  # 9
        "SKF fragment %d of %d\n"  # 10
        "payload %d: %s\n"  # 11
        "%d bytes after the last payload\n"  # 12
        "%d bytes, shorter than the IKE header\n"  # 13
        "IKEv1 message (version 0x%02x)\n"  # 14
        "major version %d\n"  # 15
        "length field %d, datagram %d bytes\n",  # 16
        k, args)


def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def _w16(b, i, v):
    b[i] = v >> 8
    b[i + 1] = v & 255


def _copy(b, i, data):
    n = len(data)
    b[i:i + n] = data
    return i + n


class Payload:
    # Base of the payload classes made by _payload (here and in ike/structs.py), and of structs'
    # Proposal and Selector (for the shared constructor only). _f = (header layout or None, attribute
    # names in constructor order).
    type = const.NO_NEXT_PAYLOAD
    critical = False

    def __init__(self, *a):
        f = self._f
        if len(a) != len(f) - 1:
            raise TypeError("%s%s" % (type(self).__name__, f[1:]))
        for k in range(len(a)):
            setattr(self, f[k + 1], a[k])

    def _size(self):
        """Body length on the wire (the generic payload header not included)."""
        f = self._f
        if f[0] is not None:
            return (f[0] & 15) + len(getattr(self, f[-1]))
        t = self.type
        if t == const.PT_N:
            return 4 + len(self.spi) + len(self.data)
        if t == const.PT_D:
            return 4 + 4 * len(self.spis)
        from ike import structs
        return structs.size(self)


def _payload(name, t, f):
    # A class made with type() holds only these two attributes (a class statement adds two more);
    # ike/structs.py makes its classes with this too.
    return type(name, (Payload,), {"type": t, "_f": f})


# A payload that is a fixed header and then opaque data (the last attribute) has a layout, a number
# whose hex digits, from the right, are the header length and then the width in octets (0: none, the
# field is not in the body; 1 or 2) of each attribute before the data, in turn, from offset 0 on.
# SK: inner_type is the type of the first inner payload; body = IV | ciphertext | ICV.
Encrypted = _payload("Encrypted", const.PT_SK, (0x00, "inner_type", "body"))
# Delete (and Notify below) are written and read by the branches of _put and _parse.
Delete = _payload("Delete", const.PT_D, (None, "protocol", "spis"))


class Notify(Payload):
    type = const.PT_N
    _f = (None, "protocol", "spi", "notify_type", "data")

    def __init__(self, protocol, spi, notify_type, data=b""):
        self.protocol = protocol
        self.spi = spi or b""
        self.notify_type = notify_type
        self.data = data


def __getattr__(name):
    # The other payload classes (Sa, Ke, Nonce, IdI, TsI, Proposal, Transform, Selector...) are in
    # ike/structs.py, loaded when first named and unloaded with the exchange: their instances never
    # outlive one (an SA keeps its selectors as bytes, its algorithms as algos.Chosen).
    from ike import structs
    return getattr(structs, name)


def _put(p, b, i):
    # Write payload p's body into the zero-filled bytearray b at offset i.
    f = p._f
    h = f[0]
    if h is not None:
        j = i
        for x in range(1, len(f) - 1):
            w = (h >> 4 * x) & 15
            if w == 1:
                b[j] = getattr(p, f[x])
            elif w == 2:
                _w16(b, j, getattr(p, f[x]))
            j += w
        _copy(b, i + (h & 15), getattr(p, f[-1]))
        return
    if p.type == const.PT_N:
        b[i] = p.protocol
        b[i + 1] = len(p.spi)
        _w16(b, i + 2, p.notify_type)
        _copy(b, _copy(b, i + 4, p.spi), p.data)
    elif p.type == const.PT_D:
        b[i] = p.protocol
        if p.protocol != const.PROTO_IKE:
            b[i + 1] = 4
            _w16(b, i + 2, len(p.spis))
            i += 4
            for s in p.spis:
                i = _copy(b, i, s)
    else:
        from ike import structs
        structs.put(p, b, i)


def _parse(cls, b, i, n):
    # The payload of class cls from its n-byte body at b[i].
    if cls is not Notify and cls is not Delete:
        from ike import structs
        return structs.parse(cls, b, i, n)
    if n < 4:
        raise _fail(0)  # too short
    end = i + n
    if cls is Notify:
        s = i + 4 + b[i + 1]
        if s > end:
            raise _fail(0)  # too short
        return Notify(b[i], bytes(b[i + 4:s]), _u16(b, i + 2), bytes(b[s:end]))
    protocol = b[i]
    # The SPI size follows from the protocol (RFC 7296 3.11).
    if protocol == const.PROTO_IKE:
        size = 0
    elif protocol == const.PROTO_ESP or protocol == const.PROTO_AH:
        size = 4
    else:
        raise _fail(1, protocol)  # unknown protocol %d
    if b[i + 1] != size:
        raise _fail(2, (b[i + 1], protocol))  # SPI size %d for protocol %d
    spis = []
    if size:
        count = _u16(b, i + 2)
        if n != 4 + 4 * count:
            raise _fail(3, (count, n))  # %d SPIs do not fill %d bytes
        for k in range(i + 4, end, 4):
            spis.append(bytes(b[k:k + 4]))
    elif n != 4:
        raise _fail(4)  # IKE SA delete carries data
    return Delete(protocol, spis)


def _chain(b, i, end, t, outer):
    # Walk a payload chain starting with type t at b[i:end]; returns (payloads, unsupported_critical).
    payloads = []
    unsupported = None
    while t != const.NO_NEXT_PAYLOAD:
        if end - i < 4:
            raise _fail(5, t)  # payload %d truncated
        nxt = b[i]
        plen = _u16(b, i + 2)
        if plen < 4 or plen > end - i:
            raise _fail(6, (t, plen, end - i))  # payload %d length %d, %d bytes left
        s = i + 4
        i += plen
        if t == const.PT_SK or t == const.PT_SKF:
            # Its next-payload field names the first inner payload, so nothing may follow it.
            if not outer:
                raise _fail(7, t)  # payload %d inside an encrypted payload
            if i != end:
                raise _fail(8, t)  # payload %d not last
            if t == const.PT_SK:
                payloads.append(Encrypted(nxt, b[s:end]))
                return payloads, unsupported
            if plen < 8:
                raise _fail(9)  # SKF payload too short
            number = _u16(b, s)
            total = _u16(b, s + 2)
            if number < 1 or number > total:
                raise _fail(10, (number, total))  # SKF fragment %d of %d
            from ike import structs
            payloads.append(structs.Fragment(nxt, number, total, b[s + 4:end]))
            return payloads, unsupported
        if t == const.PT_N:
            cls = Notify
        elif t == const.PT_D:
            cls = Delete
        elif const.PT_SA <= t <= const.PT_EAP:
            from ike import structs
            cls = structs.CLASSES[t - const.PT_SA]
        else:
            cls = None
        if cls is None:
            if b[s - 3] & const.PAYLOAD_CRITICAL and unsupported is None:
                unsupported = t
        else:
            try:
                payloads.append(_parse(cls, b, s, plen - 4))
            except ParseError as e:
                raise _fail(11, (t, e.reason))  # payload %d: %s
        t = nxt
    if i != end:
        raise _fail(12, end - i)  # %d bytes after the last payload
    return payloads, unsupported


def decode_payloads(first_type, buf):
    """Decode a payload chain (the plaintext of an SK payload) -> (payloads, unsupported_critical)."""
    b = memoryview(buf)
    return _chain(b, 0, len(b), first_type, False)


def payloads_size(payloads):
    """Bytes the payload chain takes on the wire, generic headers included."""
    n = 0
    for p in payloads:
        n += 4 + p._size()
    return n


def payloads_into(b, i, payloads):
    """Write the payload chain into the zero-filled bytearray b at offset i; returns the first type."""
    last = len(payloads) - 1
    for k in range(last + 1):
        p = payloads[k]
        size = 4 + p._size()
        if k < last:
            b[i] = payloads[k + 1].type
        elif p.type == const.PT_SK or p.type == const.PT_SKF:
            b[i] = p.inner_type
        if p.critical:
            b[i + 1] = const.PAYLOAD_CRITICAL
        _w16(b, i + 2, size)
        _put(p, b, i + 4)
        i += size
    return payloads[0].type if payloads else const.NO_NEXT_PAYLOAD


def encode_payloads(payloads):
    """Encode a payload chain -> (first_type, bytes)."""
    b = bytearray(payloads_size(payloads))
    return payloads_into(b, 0, payloads), bytes(b)


class Message:
    def __init__(self, spi_i, spi_r, exchange, flags, msg_id, payloads):
        self.spi_i = spi_i
        self.spi_r = spi_r
        self.exchange = exchange
        self.flags = flags
        self.msg_id = msg_id
        self.payloads = payloads
        self.next_payload = payloads[0].type if payloads else const.NO_NEXT_PAYLOAD
        self.unsupported_critical = None

    @property
    def is_response(self):
        return bool(self.flags & const.FLAG_RESPONSE)

    @property
    def is_initiator(self):
        return bool(self.flags & const.FLAG_INITIATOR)

    def get(self, cls):
        for p in self.payloads:
            if isinstance(p, cls):
                return p
        return None

    def all(self, cls):
        out = []
        for p in self.payloads:
            if isinstance(p, cls):
                out.append(p)
        return out

    def notify(self, notify_type):
        for p in self.payloads:
            if isinstance(p, Notify) and p.notify_type == notify_type:
                return p
        return None

    def header_into(self, b, first_type, length):
        """Write the 28-byte header into b[0:28] with the given next payload and total length."""
        _copy(b, 0, self.spi_i)
        _copy(b, 8, self.spi_r)
        b[16] = first_type
        b[17] = const.IKE_VERSION
        b[18] = self.exchange
        b[19] = self.flags
        v = self.msg_id
        _w16(b, 20, (v >> 16) & 0xFFFF)
        _w16(b, 22, v & 0xFFFF)
        _w16(b, 24, (length >> 16) & 0xFFFF)
        _w16(b, 26, length & 0xFFFF)

    def encode(self):
        """The plaintext message (payloads as they are) -> bytes."""
        total = HEADER_LEN + payloads_size(self.payloads)
        b = bytearray(total)
        self.header_into(b, payloads_into(b, HEADER_LEN, self.payloads), total)
        return bytes(b)


def decode(buf):
    """Decode a datagram (non-ESP marker already stripped) -> Message; raises only ParseError."""
    b = memoryview(buf)
    n = len(b)
    if n < HEADER_LEN:
        raise _fail(13, n)  # %d bytes, shorter than the IKE header
    major = b[17] >> 4
    if major != const.IKE_MAJOR_VERSION:
        if major == 1:
            raise _fail(14, b[17])  # IKEv1 message (version 0x%02x)
        raise _fail(15, major)  # major version %d
    length = (_u16(b, 24) << 16) | _u16(b, 26)
    if length != n:
        raise _fail(16, (length, n))  # length field %d, datagram %d bytes
    payloads, unsupported = _chain(b, HEADER_LEN, n, b[16], True)
    m = Message(bytes(b[0:8]), bytes(b[8:16]), b[18], b[19], (_u16(b, 20) << 16) | _u16(b, 22), payloads)
    m.next_payload = b[16]
    m.unsupported_critical = unsupported
    return m
