# Socket addresses without platform branches elsewhere: the unix port's sockets take and return raw
# struct sockaddr_in bytes, the ESP32's (and CPython's) take (host, port) tuples. Everything above
# this module handles an address as an opaque value plus (ip bytes, port) when it needs the parts.
import socket

_RAW = isinstance(socket.getaddrinfo("127.0.0.1", 500)[0][-1], (bytes, bytearray))


def parse_ip(text):
    """'10.0.0.1' -> b'\\n\\x00\\x00\\x01'; ValueError if not dotted-quad IPv4."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError("not an IPv4 address: " + text)
    out = bytearray(4)
    for i in range(4):
        v = int(parts[i])
        if not 0 <= v <= 255:
            raise ValueError("not an IPv4 address: " + text)
        out[i] = v
    return bytes(out)


def ip_str(ip):
    return "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3])


def make(ip, port):
    """Socket address for IPv4 address bytes `ip` and `port`, in this platform's form."""
    if _RAW:
        # struct sockaddr_in: family (host order, Linux little-endian), port (network order), addr, pad
        return bytes((socket.AF_INET & 0xFF, socket.AF_INET >> 8, port >> 8, port & 0xFF)) + ip + bytes(8)
    return (ip_str(ip), port)


def split(sa):
    """(ip bytes, port) of a socket address of this platform's form."""
    if _RAW:
        return bytes(sa[4:8]), (sa[2] << 8) | sa[3]
    return parse_ip(sa[0]), sa[1]


def key(sa):
    """Hashable, comparable form of a socket address (bytes from recvfrom may be bytearray)."""
    ip, port = split(sa)
    return ip + bytes((port >> 8, port & 0xFF))


def with_port(sa, port):
    return make(split(sa)[0], port)


def describe(sa):
    ip, port = split(sa)
    return "%s:%d" % (ip_str(ip), port)
