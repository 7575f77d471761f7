# MicroPython script: the sim board's LAN side on a real veth, for tests/interop/test_lan_netns.py.
#   micropython lan_device.py IFNAME STOPFILE
# Runs the gateway (AF_PACKET port + ARP + IPv4 forwarder) with a stand-in tunnel that plays head
# office: echo requests sent into the tunnel come back as replies through deliver(). Every frame is
# handled under micropython.heap_lock() once the driver has read it, so any allocation on the path
# fails the run. Exits when STOPFILE appears, printing the counters.
import os
import select
import sys

import micropython

from net import icmp
from net import ipv4
from net.ports.afpacket import AfPacketPort

LAN_IP = bytes((10, 20, 1, 1))
WAN_IP = bytes((10, 99, 0, 2))


class Reflector:
    """tunnel_out: answer ICMP echo as the far side would; note the MSS of TCP SYNs. Allocation-free."""

    def __init__(self, fw):
        self.fw = fw
        self.out = fw.deliver_view
        self.syn_mss = 0
        self.packets = 0

    def __call__(self, ip, n):
        self.packets += 1
        hl = (ip[0] & 0x0F) << 2
        if ip[9] == 6 and ip[hl + 13] & 0x02 and ip[hl + 12] >> 4 > 5 and ip[hl + 20] == 2:
            self.syn_mss = (ip[hl + 22] << 8) | ip[hl + 23]
            return True
        if ip[9] != 1 or ip[hl] != 8:
            return False
        out = self.out
        for i in range(n):
            out[i] = ip[i]
        icmp.echo_reply(out, 0, hl)
        self.fw.deliver(out, n)
        return True


def main():
    ifname, stopfile = sys.argv[1], sys.argv[2]
    port = AfPacketPort(ifname)
    fw = ipv4.Forwarder(WAN_IP, LAN_IP, 24, port)
    tun = Reflector(fw)
    fw.tunnel_out = tun
    fw.arp.announce()
    p = select.poll()
    p.register(port.pollable, select.POLLIN)
    print("ready")
    while True:
        for _ in p.ipoll(100):
            while True:
                n = port.recv_into(fw.rx)  # the one allocation: the frame recv() returns (afpacket.py)
                if not n:
                    break
                micropython.heap_lock()
                try:
                    fw.input(n)
                finally:
                    micropython.heap_unlock()
        try:
            os.stat(stopfile)
            break
        except OSError:
            pass
    c = fw.counters
    for k in sorted(c):
        print("counter", k, c[k])
    print("syn_mss", tun.syn_mss)
    port.close()


main()
