# The payloads that only a negotiation carries: their classes and codec. SA (proposals and
# transforms), TSi/TSr (traffic selectors) and CP have inner structure, sized, written and read by
# size/put/parse below; the others are a fixed header and then opaque data, sized and written by
# message.Payload/_put from their layout, read by parse. ike/message.py imports this module when one
# is named or met (its __getattr__ and _chain): the codec an established SA needs between handshakes
# (header, SK, Notify, Delete) does not hold these ~20 classes and this code in the heap, and the
# responder unloads it with the exchange modules (responder._TRANSIENT). Nothing outlives an
# exchange holding an instance of these classes.
from ike import const
from ike.message import Payload, _copy, _payload, _u16, _w16, reason

# Payloads that are a fixed header and then opaque data (the last attribute); layouts: see message.py.
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
# SKF (RFC 7383 2.5): inner_type is set in fragment 1 only (0 in the others).
Fragment = _payload("Fragment", const.PT_SKF, (0x2204, "inner_type", "number", "total", "body"))
# Payloads with inner structure.
Sa = _payload("Sa", const.PT_SA, (None, "proposals"))
_TS = (None, "selectors")
TsI = _payload("TsI", const.PT_TSI, _TS)
TsR = _payload("TsR", const.PT_TSR, _TS)
# attrs: list of (attr_type, value bytes); an empty value is a request for that attribute.
Cp = _payload("Cp", const.PT_CP, (None, "cfg_type", "attrs"))
del _DATA, _ID, _CERT, _TS


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


# The classes message._chain decodes, by type: RFC 7296 numbers the payloads 33 (SA) to 48 (EAP), SK
# (46) aside; Notify and Delete are message.py's.
CLASSES = (Sa, Ke, IdI, IdR, Cert, CertReq, Auth, Nonce, None, None, Vendor, TsI, TsR, None, Cp, Eap)


def _fail(k, args=()):
    # ParseError with reason number k of this table (one string, as in message.py).
    return reason(
        "too short\n"  # 0
        "proposal truncated\n"  # 1
        "proposal last-substruc %d\n"  # 2
        "proposal length %d\n"  # 3
        "proposal SPI size %d\n"  # 4
        "proposal holds %d of %d transforms\n"  # 5
        "transform %d of %d: last-substruc %d\n"  # 6
        "transform length %d\n"  # 7
        "transform attribute truncated\n"  # 8
        "transform attribute length %d\n"  # 9
        "%d bytes after the %d transforms\n"  # 10
        "%d bytes after the last proposal\n"  # 11
        "attribute truncated\n"  # 12
        "attribute length %d\n"  # 13
        "holds %d of %d selectors\n"  # 14
        "unsupported traffic selector type %d\n"  # 15
        "selector length %d\n"  # 16
        "%d bytes after the %d selectors\n"  # 17
        "nonce length %d outside 16..256\n",  # 18
        k, args)


def size(p):
    """Body length of an SA, TS or CP payload on the wire."""
    t = p.type
    n = 4
    if t == const.PT_SA:
        n = 0
        for q in p.proposals:
            n += 8 + len(q.spi)
            for x in q.transforms:
                n += 8 if x.keylen is None else 12
    elif t == const.PT_CP:
        for a in p.attrs:
            n += 4 + len(a[1])
    else:
        for s in p.selectors:
            n += 8 + len(s.start_addr) + len(s.end_addr)
    return n


def put(p, b, i):
    """Write an SA, TS or CP payload's body into the zero-filled bytearray b at offset i."""
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


def parse(cls, b, i, n):
    """The payload of class cls (one of this module's) from its n-byte body at b[i]."""
    f = cls._f
    h = f[0]
    if h is not None:
        if n < h & 15:
            raise _fail(0)  # too short
        if cls is Nonce and (n < const.NONCE_MIN or n > const.NONCE_MAX):
            raise _fail(18, n)  # nonce length %d outside 16..256
        d = bytes(b[i + (h & 15):i + n])
        if len(f) == 2:
            return cls(d)
        # The payloads decoded here have at most one header field, at offset 0.
        return cls(b[i] if h >> 4 == 1 else _u16(b, i), d)
    end = i + n
    if cls.type == const.PT_SA:
        proposals = []
        more = True
        while more:
            if end - i < 8:
                raise _fail(1)  # proposal truncated
            if b[i] == 0:
                more = False
            elif b[i] != const.MORE_PROPOSALS:
                raise _fail(2, b[i])  # proposal last-substruc %d
            pend = i + _u16(b, i + 2)
            if pend < i + 8 or pend > end:
                raise _fail(3, pend - i)  # proposal length %d
            count = b[i + 7]
            j = i + 8 + b[i + 6]
            if j > pend:
                raise _fail(4, b[i + 6])  # proposal SPI size %d
            transforms = []
            for k in range(count):
                if pend - j < 8:
                    raise _fail(5, (k, count))  # proposal holds %d of %d transforms
                if b[j] != (0 if k == count - 1 else const.MORE_TRANSFORMS):
                    raise _fail(6, (k + 1, count, b[j]))  # transform %d of %d: last-substruc %d
                tend = j + _u16(b, j + 2)
                if tend < j + 8 or tend > pend:
                    raise _fail(7, tend - j)  # transform length %d
                keylen = None
                a = j + 8
                while a < tend:
                    if tend - a < 4:
                        raise _fail(8)  # transform attribute truncated
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
                            raise _fail(9, alen)  # transform attribute length %d
                        keylen = -1
                        a += 4 + alen
                transforms.append(Transform(b[j + 4], _u16(b, j + 6), keylen))
                j = tend
            if j != pend:
                raise _fail(10, (pend - j, count))  # %d bytes after the %d transforms
            proposals.append(Proposal(b[i + 4], b[i + 5], bytes(b[i + 8:i + 8 + b[i + 6]]), transforms))
            i = pend
        if i != end:
            raise _fail(11, end - i)  # %d bytes after the last proposal
        return cls(proposals)
    if n < 4:
        raise _fail(0)  # too short
    j = i + 4
    if cls.type == const.PT_CP:
        attrs = []
        while j < end:
            if end - j < 4:
                raise _fail(12)  # attribute truncated
            alen = _u16(b, j + 2)
            if alen > end - j - 4:
                raise _fail(13, alen)  # attribute length %d
            attrs.append((_u16(b, j) & 0x7FFF, bytes(b[j + 4:j + 4 + alen])))
            j += 4 + alen
        return cls(b[i], attrs)
    count = b[i]
    selectors = []
    for k in range(count):
        if end - j < 8:
            raise _fail(14, (k, count))  # holds %d of %d selectors
        if b[j] == const.TS_IPV4_ADDR_RANGE:
            alen = 4
        elif b[j] == const.TS_IPV6_ADDR_RANGE:
            alen = 16
        else:
            raise _fail(15, b[j])  # unsupported traffic selector type %d
        slen = _u16(b, j + 2)
        if slen != 8 + 2 * alen or slen > end - j:
            raise _fail(16, slen)  # selector length %d
        a = j + 8
        selectors.append(Selector(b[j], b[j + 1], _u16(b, j + 4), _u16(b, j + 6),
                                  bytes(b[a:a + alen]), bytes(b[a + alen:j + slen])))
        j += slen
    if j != end:
        raise _fail(17, (end - j, count))  # %d bytes after the %d selectors
    return cls(selectors)
