# Steady-state packet paths of the LAN gateway, set up once and run repeatedly by the allocation test
# (tests/device/test_lan_alloc.py) and the benchmark (tests/bench/mp_lan.py). Each runner first puts
# back the bytes the gateway rewrote in place (TTL, checksums, MSS, addresses) with one equal-length
# slice store, a memcpy that allocates nothing, so runners sharing one gateway do not disturb each
# other. (A MicroPython closure over more than 5 variables allocates on every call: each closes over
# few.)
from lan_frames import (BCAST, HOST_IP, HQ_IP, LAN_IP, MAC_GW, MAC_HOST, WAN_IP, Clock, NullPort,
                        arp, eth, icmp_echo, ipv4, tcp)
from net import ipv4 as ipv4mod


class Sink:
    """tunnel_out hook that accepts without copying."""

    def __init__(self):
        self.n = 0
        self.last = 0

    def __call__(self, view, n):
        self.n += 1
        self.last = n
        return True


def setup():
    port = NullPort()
    fw = ipv4mod.Forwarder(WAN_IP, LAN_IP, 24, port, clock=Clock(0))
    fw.tunnel_out = Sink()
    req = eth(BCAST, MAC_HOST, 0x0806, arp(1, MAC_HOST, HOST_IP, b"\x00" * 6, LAN_IP))
    fw.rx[0:len(req)] = req
    fw.input(len(req))
    return fw, port


def lan_to_tunnel(fw, size=1400):
    """A UDP packet of `size` bytes from a LAN host to head office."""
    frame = eth(MAC_GW, MAC_HOST, 0x0800, ipv4(HOST_IP, HQ_IP, 17, bytes(size - 20), ttl=64))
    return _lan_runner(fw, frame, 34)          # Ethernet + IPv4 header


def syn_clamp(fw):
    ip = ipv4(HOST_IP, HQ_IP, 6, tcp(HOST_IP, HQ_IP, 40000, 80, 0x02, b"\x02\x04\x05\xb4\x01\x03\x03\x07"))
    return _lan_runner(fw, eth(MAC_GW, MAC_HOST, 0x0800, ip), 62)


def echo(fw, size=64):
    frame = eth(MAC_GW, MAC_HOST, 0x0800, ipv4(HOST_IP, LAN_IP, 1, icmp_echo(1, 1, bytes(size - 8))))
    return _lan_runner(fw, frame, len(frame))


def _lan_runner(fw, frame, rewritten):
    n = len(frame)
    head = frame[:rewritten]
    rx = fw.rx
    rx[0:n] = frame

    def run():
        rx[0:rewritten] = head
        fw.input(n)
    return run


def tunnel_to_lan(fw, size=1400, zero_copy=True):
    """A decrypted packet of `size` bytes from head office to the LAN host, either written into
    fw.deliver_view or handed over as a memoryview of another buffer (copied by deliver)."""
    ip = ipv4(HQ_IP, HOST_IP, 17, bytes(size - 20), ttl=64)
    n = len(ip)
    if not zero_copy:
        view = memoryview(bytearray(ip))

        def run_copy():
            fw.deliver(view, n)         # the copy path leaves its source untouched
        return run_copy
    view = fw.deliver_view
    view[0:n] = ip
    head = ip[:20]

    def run():
        view[0:20] = head
        fw.deliver(view, n)
    return run


def idle_poll(fw):
    def run():
        fw.poll()
    return run
