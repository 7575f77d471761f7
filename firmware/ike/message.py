# IKEv2 message codec (RFC 7296 section 3, RFC 7383 section 2.5): datagram bytes <-> Message with
# payload objects. Decoding trusts nothing: every length and count is checked and anything malformed
# raises ParseError, never another exception. Encoding sizes the message first and writes it into one
# preallocated bytearray.
from ike import const

HEADER_LEN = const.HEADER_LEN


class ParseError(ValueError):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def _u32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def _w16(b, i, v):
    b[i] = v >> 8
    b[i + 1] = v & 255


def _w32(b, i, v):
    b[i] = (v >> 24) & 255
    b[i + 1] = (v >> 16) & 255
    b[i + 2] = (v >> 8) & 255
    b[i + 3] = v & 255


def _copy(b, i, data):
    n = len(data)
    b[i:i + n] = data
    return i + n


class Payload:
    # Subclasses: _size() -> body length, _put(buf, off) writes the body (buf is zero-filled),
    # _parse(buf, off, n) -> payload from the n-byte body at off (a classmethod or staticmethod).
    type = const.NO_NEXT_PAYLOAD
    critical = False


class _Data(Payload):
    # Payloads whose body is opaque data: Nonce, Vendor, EAP.
    def __init__(self, data):
        self.data = data

    def _size(self):
        return len(self.data)

    def _put(self, b, i):
        _copy(b, i, self.data)

    @classmethod
    def _parse(cls, b, i, n):
        return cls(bytes(b[i:i + n]))


class Nonce(_Data):
    type = const.PT_NONCE

    @staticmethod
    def _parse(b, i, n):
        if n < const.NONCE_MIN or n > const.NONCE_MAX:
            raise ParseError("nonce length %d outside 16..256" % n)
        return Nonce(bytes(b[i:i + n]))


class Vendor(_Data):
    type = const.PT_V


class Eap(_Data):
    type = const.PT_EAP


class _Id(Payload):
    def __init__(self, id_type, data):
        self.id_type = id_type
        self.data = data

    def _size(self):
        return 4 + len(self.data)

    def _put(self, b, i):
        b[i] = self.id_type
        _copy(b, i + 4, self.data)

    @classmethod
    def _parse(cls, b, i, n):
        if n < 4:
            raise ParseError("too short")
        return cls(b[i], bytes(b[i + 4:i + n]))


class IdI(_Id):
    type = const.PT_IDI


class IdR(_Id):
    type = const.PT_IDR


class _CertBase(Payload):
    def __init__(self, encoding, data):
        self.encoding = encoding
        self.data = data

    def _size(self):
        return 1 + len(self.data)

    def _put(self, b, i):
        b[i] = self.encoding
        _copy(b, i + 1, self.data)

    @classmethod
    def _parse(cls, b, i, n):
        if n < 1:
            raise ParseError("too short")
        return cls(b[i], bytes(b[i + 1:i + n]))


class Cert(_CertBase):
    type = const.PT_CERT


class CertReq(_CertBase):
    type = const.PT_CERTREQ


class Auth(Payload):
    type = const.PT_AUTH

    def __init__(self, method, data):
        self.method = method
        self.data = data

    def _size(self):
        return 4 + len(self.data)

    def _put(self, b, i):
        b[i] = self.method
        _copy(b, i + 4, self.data)

    @staticmethod
    def _parse(b, i, n):
        if n < 4:
            raise ParseError("too short")
        return Auth(b[i], bytes(b[i + 4:i + n]))


class Ke(Payload):
    type = const.PT_KE

    def __init__(self, group, data):
        self.group = group
        self.data = data

    def _size(self):
        return 4 + len(self.data)

    def _put(self, b, i):
        _w16(b, i, self.group)
        _copy(b, i + 4, self.data)

    @staticmethod
    def _parse(b, i, n):
        if n < 4:
            raise ParseError("too short")
        return Ke(_u16(b, i), bytes(b[i + 4:i + n]))


class Notify(Payload):
    type = const.PT_N

    def __init__(self, protocol, spi, notify_type, data=b""):
        self.protocol = protocol
        self.spi = spi or b""
        self.notify_type = notify_type
        self.data = data

    def _size(self):
        return 4 + len(self.spi) + len(self.data)

    def _put(self, b, i):
        b[i] = self.protocol
        b[i + 1] = len(self.spi)
        _w16(b, i + 2, self.notify_type)
        _copy(b, _copy(b, i + 4, self.spi), self.data)

    @staticmethod
    def _parse(b, i, n):
        if n < 4 or 4 + b[i + 1] > n:
            raise ParseError("too short")
        s = i + 4 + b[i + 1]
        return Notify(b[i], bytes(b[i + 4:s]), _u16(b, i + 2), bytes(b[s:i + n]))


def _spi_size(protocol):
    # Delete payloads: the SPI size follows from the protocol (RFC 7296 3.11).
    if protocol == const.PROTO_IKE:
        return 0
    if protocol == const.PROTO_ESP or protocol == const.PROTO_AH:
        return 4
    raise ParseError("unknown protocol %d" % protocol)


class Delete(Payload):
    type = const.PT_D

    def __init__(self, protocol, spis):
        self.protocol = protocol
        self.spis = spis

    def _size(self):
        return 4 + 4 * len(self.spis)

    def _put(self, b, i):
        b[i] = self.protocol
        if self.protocol != const.PROTO_IKE:
            b[i + 1] = 4
            _w16(b, i + 2, len(self.spis))
            i += 4
            for s in self.spis:
                i = _copy(b, i, s)

    @staticmethod
    def _parse(b, i, n):
        if n < 4:
            raise ParseError("too short")
        protocol = b[i]
        size = _spi_size(protocol)
        if b[i + 1] != size:
            raise ParseError("SPI size %d for protocol %d" % (b[i + 1], protocol))
        spis = []
        if size:
            count = _u16(b, i + 2)
            if n != 4 + 4 * count:
                raise ParseError("%d SPIs do not fill %d bytes" % (count, n))
            for k in range(i + 4, i + n, 4):
                spis.append(bytes(b[k:k + 4]))
        elif n != 4:
            raise ParseError("IKE SA delete carries data")
        return Delete(protocol, spis)


class Transform:
    # keylen: the KEY_LENGTH attribute in bits, None if absent, -1 if the transform carries an
    # attribute we do not understand (so it never matches a configured algorithm; decode only).
    def __init__(self, type, id, keylen=None):
        self.type = type
        self.id = id
        self.keylen = keylen

    def _size(self):
        return 8 if self.keylen is None else 12

    def _put(self, b, i, last):
        n = self._size()
        b[i] = 0 if last else const.MORE_TRANSFORMS
        _w16(b, i + 2, n)
        b[i + 4] = self.type
        _w16(b, i + 6, self.id)
        if n == 12:
            _w16(b, i + 8, const.ATTR_FORMAT_TV | const.KEY_LENGTH)
            _w16(b, i + 10, self.keylen)
        return i + n

    @staticmethod
    def _parse(b, i, n):
        keylen = None
        a = i + 8
        end = i + n
        while a < end:
            if end - a < 4:
                raise ParseError("transform attribute truncated")
            at = _u16(b, a)
            if at & const.ATTR_FORMAT_TV:
                if at == const.ATTR_FORMAT_TV | const.KEY_LENGTH and keylen is None:
                    keylen = _u16(b, a + 2)
                else:
                    keylen = -1
                a += 4
            else:
                alen = _u16(b, a + 2)
                if alen > end - a - 4:
                    raise ParseError("transform attribute length %d" % alen)
                keylen = -1
                a += 4 + alen
        return Transform(b[i + 4], _u16(b, i + 6), keylen)


class Proposal:
    def __init__(self, num, protocol, spi, transforms):
        self.num = num
        self.protocol = protocol
        self.spi = spi
        self.transforms = transforms

    def _size(self):
        n = 8 + len(self.spi)
        for t in self.transforms:
            n += t._size()
        return n

    def _put(self, b, i, last):
        b[i] = 0 if last else const.MORE_PROPOSALS
        _w16(b, i + 2, self._size())
        b[i + 4] = self.num
        b[i + 5] = self.protocol
        b[i + 6] = len(self.spi)
        ts = self.transforms
        b[i + 7] = len(ts)
        i = _copy(b, i + 8, self.spi)
        for k in range(len(ts)):
            i = ts[k]._put(b, i, k == len(ts) - 1)
        return i

    @staticmethod
    def _parse(b, i, n):
        end = i + n
        count = b[i + 7]
        j = i + 8 + b[i + 6]
        if j > end:
            raise ParseError("proposal SPI size %d" % b[i + 6])
        spi = bytes(b[i + 8:j])
        transforms = []
        for k in range(count):
            if end - j < 8:
                raise ParseError("proposal holds %d of %d transforms" % (k, count))
            more = b[j]
            if more != (0 if k == count - 1 else const.MORE_TRANSFORMS):
                raise ParseError("transform %d of %d: last-substruc %d" % (k + 1, count, more))
            tlen = _u16(b, j + 2)
            if tlen < 8 or tlen > end - j:
                raise ParseError("transform length %d" % tlen)
            transforms.append(Transform._parse(b, j, tlen))
            j += tlen
        if j != end:
            raise ParseError("%d bytes after the %d transforms" % (end - j, count))
        return Proposal(b[i + 4], b[i + 5], spi, transforms)


class Sa(Payload):
    type = const.PT_SA

    def __init__(self, proposals):
        self.proposals = proposals

    def _size(self):
        n = 0
        for p in self.proposals:
            n += p._size()
        return n

    def _put(self, b, i):
        ps = self.proposals
        for k in range(len(ps)):
            i = ps[k]._put(b, i, k == len(ps) - 1)

    @staticmethod
    def _parse(b, i, n):
        end = i + n
        proposals = []
        more = True
        while more:
            if end - i < 8:
                raise ParseError("proposal truncated")
            if b[i] == 0:
                more = False
            elif b[i] != const.MORE_PROPOSALS:
                raise ParseError("proposal last-substruc %d" % b[i])
            plen = _u16(b, i + 2)
            if plen < 8 or plen > end - i:
                raise ParseError("proposal length %d" % plen)
            proposals.append(Proposal._parse(b, i, plen))
            i += plen
        if i != end:
            raise ParseError("%d bytes after the last proposal" % (end - i))
        return Sa(proposals)


class Selector:
    # One traffic selector (RFC 7296 3.13.1); addresses are bytes, 4 (IPv4) or 16 (IPv6) long.
    def __init__(self, ts_type, ip_proto, start_port, end_port, start_addr, end_addr):
        self.ts_type = ts_type
        self.ip_proto = ip_proto
        self.start_port = start_port
        self.end_port = end_port
        self.start_addr = start_addr
        self.end_addr = end_addr

    def _size(self):
        return 8 + len(self.start_addr) + len(self.end_addr)

    def _put(self, b, i):
        b[i] = self.ts_type
        b[i + 1] = self.ip_proto
        _w16(b, i + 2, self._size())
        _w16(b, i + 4, self.start_port)
        _w16(b, i + 6, self.end_port)
        return _copy(b, _copy(b, i + 8, self.start_addr), self.end_addr)


def _addr_len(ts_type):
    if ts_type == const.TS_IPV4_ADDR_RANGE:
        return 4
    if ts_type == const.TS_IPV6_ADDR_RANGE:
        return 16
    raise ParseError("unsupported traffic selector type %d" % ts_type)


class _Ts(Payload):
    def __init__(self, selectors):
        self.selectors = selectors

    def _size(self):
        n = 4
        for s in self.selectors:
            n += s._size()
        return n

    def _put(self, b, i):
        b[i] = len(self.selectors)
        i += 4
        for s in self.selectors:
            i = s._put(b, i)

    @classmethod
    def _parse(cls, b, i, n):
        if n < 4:
            raise ParseError("too short")
        count = b[i]
        end = i + n
        j = i + 4
        selectors = []
        for k in range(count):
            if end - j < 8:
                raise ParseError("holds %d of %d selectors" % (k, count))
            alen = _addr_len(b[j])
            slen = _u16(b, j + 2)
            if slen != 8 + 2 * alen or slen > end - j:
                raise ParseError("selector length %d" % slen)
            a = j + 8
            selectors.append(Selector(b[j], b[j + 1], _u16(b, j + 4), _u16(b, j + 6),
                                      bytes(b[a:a + alen]), bytes(b[a + alen:j + slen])))
            j += slen
        if j != end:
            raise ParseError("%d bytes after the %d selectors" % (end - j, count))
        return cls(selectors)


class TsI(_Ts):
    type = const.PT_TSI


class TsR(_Ts):
    type = const.PT_TSR


class Cp(Payload):
    # attrs: list of (attr_type, value bytes); an empty value is a request for that attribute.
    type = const.PT_CP

    def __init__(self, cfg_type, attrs):
        self.cfg_type = cfg_type
        self.attrs = attrs

    def _size(self):
        n = 4
        for a in self.attrs:
            n += 4 + len(a[1])
        return n

    def _put(self, b, i):
        b[i] = self.cfg_type
        i += 4
        for t, v in self.attrs:
            _w16(b, i, t)
            _w16(b, i + 2, len(v))
            i = _copy(b, i + 4, v)

    @staticmethod
    def _parse(b, i, n):
        if n < 4:
            raise ParseError("too short")
        end = i + n
        j = i + 4
        attrs = []
        while j < end:
            if end - j < 4:
                raise ParseError("attribute truncated")
            alen = _u16(b, j + 2)
            if alen > end - j - 4:
                raise ParseError("attribute length %d" % alen)
            attrs.append((_u16(b, j) & 0x7FFF, bytes(b[j + 4:j + 4 + alen])))
            j += 4 + alen
        return Cp(b[i], attrs)


class Encrypted(Payload):
    # SK: inner_type is the type of the first inner payload; body = IV | ciphertext | ICV.
    type = const.PT_SK

    def __init__(self, inner_type, body):
        self.inner_type = inner_type
        self.body = body

    def _size(self):
        return len(self.body)

    def _put(self, b, i):
        _copy(b, i, self.body)


class Fragment(Payload):
    # SKF (RFC 7383 2.5): inner_type is set in fragment 1 only (0 in the others).
    type = const.PT_SKF

    def __init__(self, inner_type, number, total, body):
        self.inner_type = inner_type
        self.number = number
        self.total = total
        self.body = body

    def _size(self):
        return 4 + len(self.body)

    def _put(self, b, i):
        _w16(b, i, self.number)
        _w16(b, i + 2, self.total)
        _copy(b, i + 4, self.body)


_CLASSES = {}
for _c in (Sa, Ke, IdI, IdR, Cert, CertReq, Auth, Nonce, Notify, Delete, Vendor, TsI, TsR, Cp, Eap):
    _CLASSES[_c.type] = _c
del _c


def _chain(b, i, end, t, outer):
    # Walk a payload chain starting with type t at b[i:end]; returns (payloads, unsupported_critical).
    payloads = []
    unsupported = None
    while t != const.NO_NEXT_PAYLOAD:
        if end - i < 4:
            raise ParseError("payload %d truncated" % t)
        nxt = b[i]
        plen = _u16(b, i + 2)
        if plen < 4 or plen > end - i:
            raise ParseError("payload %d length %d, %d bytes left" % (t, plen, end - i))
        s = i + 4
        i += plen
        if t == const.PT_SK or t == const.PT_SKF:
            # Its next-payload field names the first inner payload, so nothing may follow it.
            if not outer:
                raise ParseError("payload %d inside an encrypted payload" % t)
            if i != end:
                raise ParseError("payload %d not last" % t)
            if t == const.PT_SK:
                payloads.append(Encrypted(nxt, b[s:end]))
                return payloads, unsupported
            if plen < 8:
                raise ParseError("SKF payload too short")
            number = _u16(b, s)
            total = _u16(b, s + 2)
            if number < 1 or number > total:
                raise ParseError("SKF fragment %d of %d" % (number, total))
            payloads.append(Fragment(nxt, number, total, b[s + 4:end]))
            return payloads, unsupported
        cls = _CLASSES.get(t)
        if cls is None:
            if b[s - 3] & const.PAYLOAD_CRITICAL and unsupported is None:
                unsupported = t
        else:
            try:
                payloads.append(cls._parse(b, s, plen - 4))
            except ParseError as e:
                raise ParseError("payload %d: %s" % (t, e.reason))
        t = nxt
    if i != end:
        raise ParseError("%d bytes after the last payload" % (end - i))
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
        p._put(b, i + 4)
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
        return [p for p in self.payloads if isinstance(p, cls)]

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
        _w32(b, 20, self.msg_id)
        _w32(b, 24, length)

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
        raise ParseError("%d bytes, shorter than the IKE header" % n)
    major = b[17] >> 4
    if major != const.IKE_MAJOR_VERSION:
        if major == 1:
            raise ParseError("IKEv1 message (version 0x%02x)" % b[17])
        raise ParseError("major version %d" % major)
    length = _u32(b, 24)
    if length != n:
        raise ParseError("length field %d, datagram %d bytes" % (length, n))
    payloads, unsupported = _chain(b, HEADER_LEN, n, b[16], True)
    m = Message(bytes(b[0:8]), bytes(b[8:16]), b[18], b[19], _u32(b, 20), payloads)
    m.next_payload = b[16]
    m.unsupported_critical = unsupported
    return m
