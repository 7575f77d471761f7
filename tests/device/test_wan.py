# The WAN sockets (firmware/net/wan.py) on loopback: UDP 500 is IKE, UDP 4500 is demultiplexed
# by RFC 3948 (non-ESP marker -> IKE, 0xFF -> keepalive, else ESP), and IKE sent "on 4500" gets the
# marker on the wire.
import os
import select
import socket

from net import addr
from net import wan as wan_mod

LO = addr.parse_ip("127.0.0.1")


def rig():
    base = 20000 + (os.urandom(2)[0] << 6)
    w = wan_mod.Wan(LO, base, base + 1)
    got = []
    w.on_ike = lambda data, remote, natt: got.append(("ike", bytes(data), natt, remote))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(addr.make(LO, base + 2))
    return w, got, peer, base


def deliver(w, expect=1):
    p = select.poll()
    for s in w.sockets():
        p.register(s, select.POLLIN)
    n = 0
    while n < expect:
        for ev in p.poll(1000):
            if ev[0] is w.s500:
                w.ike_input()
                n += 1
            else:
                n += w.natt_batch(expect)


def test_demux():
    w, got, peer, base = rig()
    ike500 = addr.make(LO, base)
    natt = addr.make(LO, base + 1)
    peer.sendto(b"A" * 28, ike500)
    peer.sendto(b"\x00\x00\x00\x00" + b"B" * 28, natt)
    peer.sendto(b"\xff", natt)
    peer.sendto(b"\x01\x02\x03\x04" + bytes(60), natt)  # ESP, no engine yet
    peer.sendto(b"\x01\x02", natt)
    deliver(w, 5)
    assert [(g[0], g[1], g[2]) for g in got] == [("ike", b"A" * 28, False), ("ike", b"B" * 28, True)]
    assert addr.split(got[0][3]) == (LO, base + 2)
    c = w.counters
    assert (c["keepalive_rx"], c["esp_no_engine"], c["runt"], c["ike_rx"]) == (1, 1, 1, 2)
    esp = []
    w.on_esp = lambda data, remote: esp.append(bytes(data))
    peer.sendto(b"\x01\x02\x03\x04" + bytes(60), natt)
    deliver(w)
    assert esp == [b"\x01\x02\x03\x04" + bytes(60)]
    w.close()


def test_natt_batch_reads_what_waits_then_stops():
    # The data plane's read of UDP 4500: every datagram waiting, demultiplexed by natt() (test_demux),
    # up to the budget; an empty socket ends the batch (EAGAIN), it neither blocks nor raises.
    w, got, peer, base = rig()
    natt = addr.make(LO, base + 1)
    esp = []
    w.on_esp = lambda data, remote: esp.append(bytes(data))
    assert w.natt_batch(8) == 0
    for i in range(5):
        peer.sendto(b"\x01\x02\x03\x04" + bytes((i,)) * 60, natt)
    peer.sendto(b"\x00\x00\x00\x00" + b"B" * 28, natt)
    peer.sendto(b"\xff", natt)
    p = select.poll()
    p.register(w.s4500, select.POLLIN)
    assert p.poll(1000)
    assert w.natt_batch(4) == 4         # the budget
    assert w.natt_batch(8) == 3 and w.natt_batch(8) == 0
    assert esp == [b"\x01\x02\x03\x04" + bytes((i,)) * 60 for i in range(5)]
    assert [(g[0], g[1], g[2]) for g in got] == [("ike", b"B" * 28, True)]
    c = w.counters
    assert (c["esp_rx"], c["ike_rx"], c["keepalive_rx"]) == (5, 1, 1)
    w.close()


def test_send_ike_with_and_without_marker():
    w, got, peer, base = rig()
    me = addr.make(LO, base + 2)
    w.send_ike(b"IKE", me, False)
    data, src = peer.recvfrom(100)
    assert data == b"IKE" and addr.split(src)[1] == base
    w.send_ike(b"IKE", me, True)
    data, src = peer.recvfrom(100)
    assert data == b"\x00\x00\x00\x00IKE" and addr.split(src)[1] == base + 1
    w.send_keepalive(me)
    assert peer.recvfrom(100)[0] == b"\xff"
    w.close()


def test_read_with_nothing_waiting_does_not_block():
    # poll() said readable but nothing waits any more, or a read that ran out of heap took the
    # datagram already (the unix port copies it out of its buffer): the loop must not hang there.
    w, got, peer, base = rig()
    w.ike_input()
    assert got == [] and w.counters["ike_rx"] == 0
    w._no_memory(w.s500)
    w._no_memory(w.s4500)
    assert w.counters["rx_no_memory"] == 2
    # With a datagram waiting, the out-of-heap path takes it off the socket (the loop would spin).
    peer.sendto(b"A" * 28, addr.make(LO, base))
    p = select.poll()
    p.register(w.s500, select.POLLIN)
    assert p.poll(1000)
    w._no_memory(w.s500)
    assert not p.poll(0)
    w.ike_input()
    assert got == []
    w.close()
