# IKEv2 message codec (RFC 7296 section 3, RFC 7383 section 2.5): datagram bytes <-> Message with
# payload objects. Decoding trusts nothing: every length and count is checked and anything malformed
# raises ParseError, never another exception. Encoding sizes the message first and writes it into one
# preallocated bytearray.
#
# Table-driven, to keep the module small in RAM (on the chip every class costs the heap ~200 bytes, every
# function ~100 plus its bytecode, every long string literal ~70): a payload class is made by type() and
# holds only its type number and _f = (layout, attribute names in constructor order); one constructor
# (Payload.__init__) serves them all, _size/_put/_parse encode and decode them all (a fixed header and
# then data, by the layout; the payloads with inner structure, SA, Notify, Delete, TS and CP, by a
# branch each), and the ParseError reasons are one string (_fail).
from ike import const

HEADER_LEN = const.HEADER_LEN


class ParseError(ValueError):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _fail(k, args=()):
    # ParseError with reason number k of this table, formatted with args. The reasons share one string
    # object on the heap; one literal per raise would cost ~70 bytes each.
    s = (
        "too short\n"  # 0
        "nonce length %d outside 16..256\n"  # 1
        "proposal truncated\n"  # 2
        "proposal last-substruc %d\n"  # 3
        "proposal length %d\n"  # 4
        "proposal SPI size %d\n"  # 5
        "proposal holds %d of %d transforms\n"  # 6
        "transform %d of %d: last-substruc %d\n"  # 7
        "transform length %d\n"  # 8
        "transform attribute truncated\n"  # 9
        "transform attribute length %d\n"  # 10
        "%d bytes after the %d transforms\n"  # 11
        "%d bytes after the last proposal\n"  # 12
        "unknown protocol %d\n"  # 13
        "SPI size %d for protocol %d\n"  # 14
        "%d SPIs do not fill %d bytes\n"  # 15
        "IKE SA delete carries data\n"  # 16
        "attribute truncated\n"  # 17
        "attribute length %d\n"  # 18
        "holds %d of %d selectors\n"  # 19
        "unsupported traffic selector type %d\n"  # 20
        "selector length %d\n"  # 21
        "%d bytes after the %d selectors\n"  # 22
        "payload %d truncated\n"  # 23
        "payload %d length %d, %d bytes left\n"  # 24
        "payload %d inside an encrypted payload\n"  # 25
        "payload %d not last\n"  # 26
        "SKF payload too short\n"  # 27
        "SKF fragment %d of %d\n"  # 28
        "payload %d: %s\n"  # 29
        "%d bytes after the last payload\n"  # 30
        "%d bytes, shorter than the IKE header\n"  # 31
        "IKEv1 message (version 0x%02x)\n"  # 32
        "major version %d\n"  # 33
        "length field %d, datagram %d bytes\n"  # 34
    )
    i = 0
    for _ in range(k):
        i = s.find("\n", i) + 1
    return ParseError(s[i:s.find("\n", i)] % args)


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
    # Base of the payload classes made by _payload below, and of Proposal and Selector (for the
    # shared constructor only). _f = (header layout or None, attribute names in constructor order).
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
        n = 4
        if t == const.PT_SA:
            n = 0
            for p in self.proposals:
                n += 8 + len(p.spi)
                for x in p.transforms:
                    n += 8 if x.keylen is None else 12
        elif t == const.PT_CP:
            for a in self.attrs:
                n += 4 + len(a[1])
        else:
            for s in self.selectors:
                n += 8 + len(s.start_addr) + len(s.end_addr)
        return n


def _payload(name, t, f):
    # A class made with type() holds only these two attributes (a class statement adds two more).
    return type(name, (Payload,), {"type": t, "_f": f})


# Payloads that are a fixed header and then opaque data (the last attribute). Their layout is a number
# whose hex digits, from the right, are the header length and then the width in octets (0: none, the
# field is not in the body; 1 or 2) of each attribute before the data, in turn, from offset 0 on.
_DATA = (0, "data")
Nonce = _payload("Nonce", const.PT_NONCE, _DATA)
Vendor = _payload("Vendor", const.PT_V, _DATA)
Eap = _payload("Eap", const.PT_EAP, _DATA)
_ID = (0x14, "id_type", "data")  # one octet, three reserved, data
IdI = _payload("IdI", const.PT_IDI, _ID)
IdR = _payload("IdR", const.PT_IDR, _ID)
_CERT = (0x11, "encoding", "data")
Cert = _payload("Cert", const.PT_CERT, _CERT)
CertReq = _payload("CertReq", const.PT_CERTREQ, _CERT)
Auth = _payload("Auth", const.PT_AUTH, (0x14, "method", "data"))
Ke = _payload("Ke", const.PT_KE, (0x24, "group", "data"))
# SK: inner_type is the type of the first inner payload; body = IV | ciphertext | ICV.
Encrypted = _payload("Encrypted", const.PT_SK, (0x00, "inner_type", "body"))
# SKF (RFC 7383 2.5): inner_type is set in fragment 1 only (0 in the others).
Fragment = _payload("Fragment", const.PT_SKF, (0x2204, "inner_type", "number", "total", "body"))
# Payloads with inner structure, written and read by the branches of _put and _parse.
Delete = _payload("Delete", const.PT_D, (None, "protocol", "spis"))
Sa = _payload("Sa", const.PT_SA, (None, "proposals"))
_TS = (None, "selectors")
TsI = _payload("TsI", const.PT_TSI, _TS)
TsR = _payload("TsR", const.PT_TSR, _TS)
# attrs: list of (attr_type, value bytes); an empty value is a request for that attribute.
Cp = _payload("Cp", const.PT_CP, (None, "cfg_type", "attrs"))
del _payload, _DATA, _ID, _CERT, _TS


class Notify(Payload):
    type = const.PT_N
    _f = (None, "protocol", "spi", "notify_type", "data")

    def __init__(self, protocol, spi, notify_type, data=b""):
        self.protocol = protocol
        self.spi = spi or b""
        self.notify_type = notify_type
        self.data = data


class Transform:
    # keylen: the KEY_LENGTH attribute in bits, None if absent, -1 if the transform carries an
    # attribute we do not understand (so it never matches a configured algorithm; decode only).
    def __init__(self, type, id, keylen=None):
        self.type = type
        self.id = id
        self.keylen = keylen


class Proposal(Payload):
    _f = (None, "num", "protocol", "spi", "transforms")


class Selector(Payload):
    # One traffic selector (RFC 7296 3.13.1); addresses are bytes, 4 (IPv4) or 16 (IPv6) long.
    _f = (None, "ts_type", "ip_proto", "start_port", "end_port", "start_addr", "end_addr")


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
    t = p.type
    if t == const.PT_SA:
        ps = p.proposals
        for k in range(len(ps)):
            q = ps[k]
            ts = q.transforms
            if k < len(ps) - 1:
                b[i] = const.MORE_PROPOSALS
            b[i + 4] = q.num
            b[i + 5] = q.protocol
            b[i + 6] = len(q.spi)
            b[i + 7] = len(ts)
            j = _copy(b, i + 8, q.spi)
            for x in range(len(ts)):
                tr = ts[x]
                if x < len(ts) - 1:
                    b[j] = const.MORE_TRANSFORMS
                n = 8 if tr.keylen is None else 12
                _w16(b, j + 2, n)
                b[j + 4] = tr.type
                _w16(b, j + 6, tr.id)
                if n == 12:
                    _w16(b, j + 8, const.ATTR_FORMAT_TV | const.KEY_LENGTH)
                    _w16(b, j + 10, tr.keylen)
                j += n
            _w16(b, i + 2, j - i)
            i = j
    elif t == const.PT_N:
        b[i] = p.protocol
        b[i + 1] = len(p.spi)
        _w16(b, i + 2, p.notify_type)
        _copy(b, _copy(b, i + 4, p.spi), p.data)
    elif t == const.PT_D:
        b[i] = p.protocol
        if p.protocol != const.PROTO_IKE:
            b[i + 1] = 4
            _w16(b, i + 2, len(p.spis))
            i += 4
            for s in p.spis:
                i = _copy(b, i, s)
    elif t == const.PT_CP:
        b[i] = p.cfg_type
        i += 4
        for t, v in p.attrs:
            _w16(b, i, t)
            _w16(b, i + 2, len(v))
            i = _copy(b, i + 4, v)
    else:
        b[i] = len(p.selectors)
        i += 4
        for s in p.selectors:
            b[i] = s.ts_type
            b[i + 1] = s.ip_proto
            _w16(b, i + 2, 8 + len(s.start_addr) + len(s.end_addr))
            _w16(b, i + 4, s.start_port)
            _w16(b, i + 6, s.end_port)
            i = _copy(b, _copy(b, i + 8, s.start_addr), s.end_addr)


def _parse(cls, b, i, n):
    # The payload of class cls from its n-byte body at b[i].
    t = cls.type
    f = cls._f
    h = f[0]
    if h is not None:
        if n < h & 15:
            raise _fail(0)  # too short
        if t == const.PT_NONCE and (n < const.NONCE_MIN or n > const.NONCE_MAX):
            raise _fail(1, n)  # nonce length %d outside 16..256
        d = bytes(b[i + (h & 15):i + n])
        if len(f) == 2:
            return cls(d)
        # The payloads decoded here have at most one header field, at offset 0.
        return cls(b[i] if h >> 4 == 1 else _u16(b, i), d)
    end = i + n
    if t == const.PT_SA:
        proposals = []
        more = True
        while more:
            if end - i < 8:
                raise _fail(2)  # proposal truncated
            if b[i] == 0:
                more = False
            elif b[i] != const.MORE_PROPOSALS:
                raise _fail(3, b[i])  # proposal last-substruc %d
            pend = i + _u16(b, i + 2)
            if pend < i + 8 or pend > end:
                raise _fail(4, pend - i)  # proposal length %d
            count = b[i + 7]
            j = i + 8 + b[i + 6]
            if j > pend:
                raise _fail(5, b[i + 6])  # proposal SPI size %d
            transforms = []
            for k in range(count):
                if pend - j < 8:
                    raise _fail(6, (k, count))  # proposal holds %d of %d transforms
                if b[j] != (0 if k == count - 1 else const.MORE_TRANSFORMS):
                    raise _fail(7, (k + 1, count, b[j]))  # transform %d of %d: last-substruc %d
                tend = j + _u16(b, j + 2)
                if tend < j + 8 or tend > pend:
                    raise _fail(8, tend - j)  # transform length %d
                keylen = None
                a = j + 8
                while a < tend:
                    if tend - a < 4:
                        raise _fail(9)  # transform attribute truncated
                    at = _u16(b, a)
                    if at & const.ATTR_FORMAT_TV:
                        if at == const.ATTR_FORMAT_TV | const.KEY_LENGTH and keylen is None:
                            keylen = _u16(b, a + 2)
                        else:
                            keylen = -1
                        a += 4
                    else:
                        alen = _u16(b, a + 2)
                        if alen > tend - a - 4:
                            raise _fail(10, alen)  # transform attribute length %d
                        keylen = -1
                        a += 4 + alen
                transforms.append(Transform(b[j + 4], _u16(b, j + 6), keylen))
                j = tend
            if j != pend:
                raise _fail(11, (pend - j, count))  # %d bytes after the %d transforms
            proposals.append(Proposal(b[i + 4], b[i + 5], bytes(b[i + 8:i + 8 + b[i + 6]]), transforms))
            i = pend
        if i != end:
            raise _fail(12, end - i)  # %d bytes after the last proposal
        return Sa(proposals)
    if n < 4:
        raise _fail(0)  # too short
    if t == const.PT_N:
        s = i + 4 + b[i + 1]
        if s > end:
            raise _fail(0)  # too short
        return Notify(b[i], bytes(b[i + 4:s]), _u16(b, i + 2), bytes(b[s:end]))
    if t == const.PT_D:
        protocol = b[i]
        # The SPI size follows from the protocol (RFC 7296 3.11).
        if protocol == const.PROTO_IKE:
            size = 0
        elif protocol == const.PROTO_ESP or protocol == const.PROTO_AH:
            size = 4
        else:
            raise _fail(13, protocol)  # unknown protocol %d
        if b[i + 1] != size:
            raise _fail(14, (b[i + 1], protocol))  # SPI size %d for protocol %d
        spis = []
        if size:
            count = _u16(b, i + 2)
            if n != 4 + 4 * count:
                raise _fail(15, (count, n))  # %d SPIs do not fill %d bytes
            for k in range(i + 4, end, 4):
                spis.append(bytes(b[k:k + 4]))
        elif n != 4:
            raise _fail(16)  # IKE SA delete carries data
        return Delete(protocol, spis)
    j = i + 4
    if t == const.PT_CP:
        attrs = []
        while j < end:
            if end - j < 4:
                raise _fail(17)  # attribute truncated
            alen = _u16(b, j + 2)
            if alen > end - j - 4:
                raise _fail(18, alen)  # attribute length %d
            attrs.append((_u16(b, j) & 0x7FFF, bytes(b[j + 4:j + 4 + alen])))
            j += 4 + alen
        return Cp(b[i], attrs)
    count = b[i]
    selectors = []
    for k in range(count):
        if end - j < 8:
            raise _fail(19, (k, count))  # holds %d of %d selectors
        if b[j] == const.TS_IPV4_ADDR_RANGE:
            alen = 4
        elif b[j] == const.TS_IPV6_ADDR_RANGE:
            alen = 16
        else:
            raise _fail(20, b[j])  # unsupported traffic selector type %d
        slen = _u16(b, j + 2)
        if slen != 8 + 2 * alen or slen > end - j:
            raise _fail(21, slen)  # selector length %d
        a = j + 8
        selectors.append(Selector(b[j], b[j + 1], _u16(b, j + 4), _u16(b, j + 6),
                                  bytes(b[a:a + alen]), bytes(b[a + alen:j + slen])))
        j += slen
    if j != end:
        raise _fail(22, (end - j, count))  # %d bytes after the %d selectors
    return cls(selectors)


# The classes _chain decodes, by type: RFC 7296 numbers the payloads 33 (SA) to 48 (EAP), SK (46) aside.
_CLASSES = (Sa, Ke, IdI, IdR, Cert, CertReq, Auth, Nonce, Notify, Delete, Vendor, TsI, TsR, None, Cp, Eap)


def _chain(b, i, end, t, outer):
    # Walk a payload chain starting with type t at b[i:end]; returns (payloads, unsupported_critical).
    payloads = []
    unsupported = None
    while t != const.NO_NEXT_PAYLOAD:
        if end - i < 4:
            raise _fail(23, t)  # payload %d truncated
        nxt = b[i]
        plen = _u16(b, i + 2)
        if plen < 4 or plen > end - i:
            raise _fail(24, (t, plen, end - i))  # payload %d length %d, %d bytes left
        s = i + 4
        i += plen
        if t == const.PT_SK or t == const.PT_SKF:
            # Its next-payload field names the first inner payload, so nothing may follow it.
            if not outer:
                raise _fail(25, t)  # payload %d inside an encrypted payload
            if i != end:
                raise _fail(26, t)  # payload %d not last
            if t == const.PT_SK:
                payloads.append(Encrypted(nxt, b[s:end]))
                return payloads, unsupported
            if plen < 8:
                raise _fail(27)  # SKF payload too short
            number = _u16(b, s)
            total = _u16(b, s + 2)
            if number < 1 or number > total:
                raise _fail(28, (number, total))  # SKF fragment %d of %d
            payloads.append(Fragment(nxt, number, total, b[s + 4:end]))
            return payloads, unsupported
        cls = _CLASSES[t - const.PT_SA] if const.PT_SA <= t <= const.PT_EAP else None
        if cls is None:
            if b[s - 3] & const.PAYLOAD_CRITICAL and unsupported is None:
                unsupported = t
        else:
            try:
                payloads.append(_parse(cls, b, s, plen - 4))
            except ParseError as e:
                raise _fail(29, (t, e.reason))  # payload %d: %s
        t = nxt
    if i != end:
        raise _fail(30, end - i)  # %d bytes after the last payload
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
        raise _fail(31, n)  # %d bytes, shorter than the IKE header
    major = b[17] >> 4
    if major != const.IKE_MAJOR_VERSION:
        if major == 1:
            raise _fail(32, b[17])  # IKEv1 message (version 0x%02x)
        raise _fail(33, major)  # major version %d
    length = (_u16(b, 24) << 16) | _u16(b, 26)
    if length != n:
        raise _fail(34, (length, n))  # length field %d, datagram %d bytes
    payloads, unsupported = _chain(b, HEADER_LEN, n, b[16], True)
    m = Message(bytes(b[0:8]), bytes(b[8:16]), b[18], b[19], (_u16(b, 20) << 16) | _u16(b, 22), payloads)
    m.next_payload = b[16]
    m.unsupported_critical = unsupported
    return m
