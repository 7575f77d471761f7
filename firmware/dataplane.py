# The data plane: the ESP engine (ipsec/) between the WAN's UDP 4500 socket (net/wan.py) and the LAN
# gateway (net/ipv4.py with its port driver), wired once at boot:
#
#   LAN port -> fw.poll -> fw.tunnel_out = _to_tunnel -> eng.seal -> wan.send_esp(view, sa.peer)
#   wan.on_esp = _from_tunnel -> eng.open(datagram, fw.deliver_view) -> fw.deliver -> LAN port
#
# Nothing on either path allocates beyond what MicroPython forces (the datagram recvfrom returns,
# the HMAC's hash objects and digests): the callbacks are bound once, the engine and the gateway
# work in their preallocated buffers, the idle timers are small ints in a dict keyed by the peer's
# socket address object the SA already holds.
#
# ESP always travels UDP-encapsulated (RFC 3948) on the IKE port 4500 socket. Plain ESP (IP protocol
# 50) would take a SOCK_RAW socket, which the unix port and the ESP32's lwIP both offer, but it cannot
# be shown working here: strongSwan's userspace ESP (kernel-libipsec; these kernels have no XFRM ESP)
# speaks only ESP-in-UDP and forces it by faking NAT detection, so every SA it negotiates is
# encapsulated. An SA negotiated without NAT is not sent on: counted as no_encap (README).
#
# Without a LAN port (host mode) the tunnel ends at the device: the gateway answers echo requests
# to its addresses through the tunnel and drops the rest, counted.
import gc
import time

from micropython import const

from ipsec import engine
from net import const as c
from net import ipv4

_KEEPALIVE_MS = const(20000)    # RFC 3948 2.3: a 0xFF keepalive after this long without ESP out
_ETH_MTU = const(1500)          # the WAN's path MTU (Ethernet; lwIP does no IP fragmentation)
_FRAME_IP = const(1522)         # the gateway's frame buffers after their Ethernet header
# Frames handled per poll event (the WAN gets its turn in between), and datagrams read from UDP 4500
# per poll event, likewise: each event costs the loop a round of timers (~35 us on the sim board
# with one tunnel), 1 us a packet in batches of 32 (~1.5 ms of traffic) against 2 in batches of 16.
_LAN_BUDGET = const(32)
_WAN_BUDGET = const(32)
_TICK_MS = const(1000)


class DataPlane:
    """cfg: the config records (wan.addr; lan: addr, prefix, or None), wan: net.wan.Wan, sad:
    ipsec.sad.Sad, port: a LAN port (net/port.py) or None for host mode."""

    def __init__(self, cfg, wan, sad, port):
        self.wan = wan
        self._sad = sad
        lan = cfg.lan if port is not None else None
        gc.collect()  # what the imports left behind goes first: the buffers below need contiguous blocks
        # Inner packets up to the tunnel MTU both ways: a bigger one would make an outer packet that
        # needs IP fragmentation, which lwIP does not reassemble. The engine's view tables are sized
        # for it (about 90 + 37 views).
        mtu = engine.inner_mtu(_ETH_MTU, True)
        # The gateway builds frames from the tunnel in the engine's buffer, where open() decrypts
        # them: no copy, and one 1.5 KB buffer less.
        self.eng = eng = engine.Engine(sad, max_inner=mtu, view_room=_FRAME_IP, link_hdr=c.ETH_HLEN)
        self.fw = fw = ipv4.Forwarder(cfg.wan.addr, lan.addr if lan else None, lan.prefix if lan else 24,
                                      port, mtu, tx=eng.frame)
        self.port = port
        self.pollable = port.pollable if port is not None else None
        self._out = fw.deliver_view
        self._idle = {}         # peer socket address -> ticks_ms of the last ESP or keepalive sent
        self.counters = {"esp_tx": 0, "esp_in": 0, "no_encap": 0, "keepalives": 0}
        self._tick_t = time.ticks_ms()
        fw.tunnel_out = self._to_tunnel
        wan.on_esp = self._from_tunnel

    def register(self, poller, flags):
        if self.pollable is not None:
            poller.register(self.pollable, flags)

    def poll(self):
        """The LAN port is readable: forward what waits there."""
        self.fw.poll(_LAN_BUDGET)

    def wan_input(self):
        """UDP 4500 is readable: read what waits there (ESP, and IKE behind the non-ESP marker) in one
        go, as poll() costs the loop a round of timers each time."""
        self.wan.natt_batch(_WAN_BUDGET)

    def _to_tunnel(self, ip, n):
        v = self.eng.seal(ip, n)
        if v is None:
            return False
        sa = self.eng.sa
        if not sa.encap:
            self.counters["no_encap"] += 1
            return False
        self.wan.send_esp(v, sa.peer)
        self.counters["esp_tx"] += 1
        self._idle[sa.peer] = time.ticks_ms()
        return True

    def _from_tunnel(self, data, remote):
        out = self._out
        n = self.eng.open(data, out)
        if n > 0:
            self.counters["esp_in"] += 1
            self.fw.deliver(out, n)

    def tick(self):
        """Keepalives to the peers of UDP-encapsulated SAs after _KEEPALIVE_MS without ESP out. Called
        every loop iteration; does its work once a second."""
        now = time.ticks_ms()
        if time.ticks_diff(now, self._tick_t) < _TICK_MS:
            return
        self._tick_t = now
        idle = self._idle
        sas = self._sad.all()
        for peer in list(idle):
            if not any(sa.peer == peer for sa in sas):
                del idle[peer]      # no SA with that peer (address) any more
        for sa in sas:
            if not sa.encap:
                continue
            last = idle.get(sa.peer)
            if last is None:
                idle[sa.peer] = now     # the SA is new: its first keepalive is due in 20 s
            elif time.ticks_diff(now, last) >= _KEEPALIVE_MS:
                self.wan.send_keepalive(sa.peer)
                self.counters["keepalives"] += 1
                idle[sa.peer] = now

    def status(self):
        """Counters of the data plane for the status view: ours, the engine's, the gateway's."""
        return {"dataplane": self.counters, "esp": self.eng.counters, "lan": self.fw.counters,
                "tunnel_mtu": self.fw.tunnel_mtu}

    def close(self):
        if self.port is not None:
            self.port.close()
