"""CPython helper run inside the LAN host's namespace by test_lan_netns.py (no ping binary here):
  python lan_host.py ping DST [SIZE] [df]   ICMP echo over a raw socket; prints one JSON line with
                                            what came back (type, code, source, TTL, next-hop MTU)
  python lan_host.py syn DST PORT           starts a TCP connect (the SYN is what matters)"""
import json
import os
import select
import socket
import struct
import sys
import time

IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2


def checksum(data):
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping(dst, size=56, df=False, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if df:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    ident = os.getpid() & 0xFFFF
    data = bytes(i & 0xFF for i in range(size))
    msg = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + data
    msg = msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]
    try:
        s.sendto(msg, (dst, 0))
    except OSError as e:
        return {"error": e.errno}
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not select.select([s], [], [], end - time.monotonic())[0]:
            break
        pkt, (src, _) = s.recvfrom(4096)
        hl = (pkt[0] & 15) * 4
        t, code = pkt[hl], pkt[hl + 1]
        if t == 0 and struct.unpack("!H", pkt[hl + 4:hl + 6])[0] == ident:
            return {"type": 0, "src": src, "ttl": pkt[8], "data_ok": pkt[hl + 8:] == data,
                    "icmp_ok": checksum(pkt[hl:]) == 0, "ip_ok": checksum(pkt[:hl]) == 0}
        if t in (3, 11):
            return {"type": t, "code": code, "src": src, "mtu": struct.unpack("!H", pkt[hl + 6:hl + 8])[0],
                    "icmp_ok": checksum(pkt[hl:]) == 0, "ip_ok": checksum(pkt[:hl]) == 0}
    return {"type": None}


def syn(dst, port):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((dst, port))
    except BlockingIOError:
        pass
    time.sleep(0.3)
    return {"sent": True}


def main():
    cmd = sys.argv[1]
    if cmd == "ping":
        size = int(sys.argv[3]) if len(sys.argv) > 3 else 56
        out = ping(sys.argv[2], size, "df" in sys.argv[4:])
    else:
        out = syn(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
