# Traffic selectors (RFC 7296 2.9): IPv4 ranges, CIDR conversion and narrowing of what the peer asks
# for to what we are configured to allow.
from ike import const
from ike import message
from net import addr


def _u32(b):
    return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def _b4(v):
    return bytes(((v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF))


def from_cidr(text):
    """'10.20.1.0/24' -> Selector covering the subnet, any protocol and port."""
    if "/" in text:
        ip, plen = text.split("/")
        plen = int(plen)
    else:
        ip, plen = text, 32
    base = _u32(addr.parse_ip(ip))
    host = (1 << (32 - plen)) - 1
    start = base & ~host & 0xFFFFFFFF
    return message.Selector(const.TS_IPV4_ADDR_RANGE, 0, 0, 65535, _b4(start), _b4(start | host))


def _intersect(a, b):
    if a.ts_type != const.TS_IPV4_ADDR_RANGE or b.ts_type != const.TS_IPV4_ADDR_RANGE:
        return None
    if a.ip_proto and b.ip_proto and a.ip_proto != b.ip_proto:
        return None
    lo = max(_u32(a.start_addr), _u32(b.start_addr))
    hi = min(_u32(a.end_addr), _u32(b.end_addr))
    plo = max(a.start_port, b.start_port)
    phi = min(a.end_port, b.end_port)
    if lo > hi or plo > phi:
        return None
    return message.Selector(const.TS_IPV4_ADDR_RANGE, a.ip_proto or b.ip_proto, plo, phi, _b4(lo), _b4(hi))


def narrow(offered, allowed):
    """Intersections of the peer's selectors with ours, in the peer's order, leaving out any that
    another one covers (one that covers earlier ones comes in their place at its own position): the
    first selectors of a request that a packet triggered (2.9) are that packet's addresses, inside
    the ranges that follow, and strongSwan drops such redundant ones too. Empty when nothing
    overlaps (TS_UNACCEPTABLE)."""
    keep = []
    for o in offered:
        for a in allowed:
            s = _intersect(o, a)
            if s is None:
                continue
            for k in keep:
                if _within(s, k):
                    break
            else:
                keep = [k for k in keep if not _within(k, s)]
                keep.append(s)
    return keep


def _within(a, b):
    # Is IPv4 range selector a inside b? Compared field by field: a peer may send dozens.
    return ((b.ip_proto == 0 or b.ip_proto == a.ip_proto) and b.start_port <= a.start_port
            and a.end_port <= b.end_port and _u32(b.start_addr) <= _u32(a.start_addr)
            and _u32(a.end_addr) <= _u32(b.end_addr))


def describe_one(s):
    return _describe(s.ts_type, s.ip_proto, s.start_port, s.end_port, s.start_addr, s.end_addr)


def _describe(ts_type, ip_proto, start_port, end_port, start_addr, end_addr):
    if ts_type != const.TS_IPV4_ADDR_RANGE:
        return "type-%d selector" % ts_type
    lo = _u32(start_addr)
    hi = _u32(end_addr)
    size = hi - lo + 1
    plen = 32
    while plen > 0 and (1 << (32 - plen)) < size:
        plen -= 1
    if lo <= hi and (1 << (32 - plen)) == size and lo & (size - 1) == 0:
        text = "%s/%d" % (addr.ip_str(start_addr), plen)
    else:
        text = "%s-%s" % (addr.ip_str(start_addr), addr.ip_str(end_addr))
    if ip_proto:
        text += "[proto %d" % ip_proto
        if (start_port, end_port) != (0, 65535):
            text += " port %d-%d" % (start_port, end_port)
        text += "]"
    return text


def describe_encoded(b):
    """A CHILD SA's selectors as it keeps them (sa.ChildSa.selectors: a TSi and a TSr payload as we
    encoded them) -> (local, remote), each a list of describe_one texts. Read from the octets here:
    decoding them (message.decode_payloads) would load ike/structs.py, 8 KB, for the status view."""
    out = []
    i = 0
    while i < len(b):
        end = i + ((b[i + 2] << 8) | b[i + 3])  # generic payload header: the payload's length
        texts = []
        j = i + 8  # that header, then the number of selectors and three reserved octets
        while j < end:
            n = (b[j + 2] << 8) | b[j + 3]  # type, IP protocol, selector length, ports, addresses
            a = (n - 8) // 2
            texts.append(_describe(b[j], b[j + 1], (b[j + 4] << 8) | b[j + 5], (b[j + 6] << 8) | b[j + 7],
                                   b[j + 8:j + 8 + a], b[j + 8 + a:j + n]))
            j += n
        out.append(texts)
        i = end
    return out


def describe(selectors):
    return " ".join([describe_one(s) for s in selectors]) or "nothing"
