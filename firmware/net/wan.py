# The WAN side: UDP sockets on 500 (IKE) and 4500 (NAT-T) bound to the configured WAN address.
# UDP 4500 carries three things (RFC 3948): IKE behind the 4-byte non-ESP marker, single-byte 0xFF
# NAT keepalives, and ESP, which goes to the ESP engine (counted and dropped while there is none).
# The sockets do not block: the data plane reads what waits on UDP 4500 in batches (natt_batch) until
# the socket says EAGAIN, rather than asking poll() before each datagram; a send that finds its buffer
# full is dropped and counted (tx_errors) like any other send error, where it would have waited.
import errno
import socket

from micropython import const

from net import addr
from net import const as nc

# Largest datagram taken: an Ethernet MTU of UDP payload plus slack for a peer whose tunnel MTU
# is set high (strongSwan's libipsec: 1400 inner). Larger IKE messages need RFC 7383 fragmentation
# anyway (lwIP does no IP reassembly). recvfrom allocates this much (then shrinks to fit), so it is
# kept small: a fragmented heap may not have a bigger contiguous block.
RX_MAX = const(1600)
_len = len      # a module global is found faster than the builtin (ipsec/sad.py)


def _udp(sa):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(sa)
    return s


class Wan:
    def __init__(self, ip, ike_port=nc.IKE_PORT, natt_port=nc.NATT_PORT, rcvbuf=0):
        """ip: the WAN address (4 bytes) to bind; it must already be on an interface. rcvbuf: the
        kernel's receive buffer for UDP 4500 in bytes (the board's wan_rcvbuf; 0: the stack's own)."""
        self.local500 = addr.make(ip, ike_port)
        self.local4500 = addr.make(ip, natt_port)
        self.s500 = _udp(self.local500)
        self.s4500 = _udp(self.local4500)
        self.s500.setblocking(False)    # the loop reads them when poll() says so; a read that finds
        self.s4500.setblocking(False)   # nothing must not stop it
        if rcvbuf:
            self.s4500.setsockopt(nc.SOL_SOCKET, nc.SO_RCVBUF, rcvbuf)  # only the sim board asks
        self.on_ike = None  # fn(datagram, remote, natt) for IKE (marker stripped)
        self.on_esp = None  # fn(datagram, remote) for ESP-in-UDP
        self.counters = {"ike_rx": 0, "esp_rx": 0, "esp_no_engine": 0, "keepalive_rx": 0, "runt": 0,
                         "tx_errors": 0, "rx_no_memory": 0}

    def sockets(self):
        return (self.s500, self.s4500)

    def local(self, natt):
        return self.local4500 if natt else self.local500

    def ike_input(self):
        """UDP 500 is readable: read its datagram (IKE) and pass it on."""
        try:
            data, remote = self.s500.recvfrom(RX_MAX)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return          # gone before we read it
            raise
        except MemoryError:
            self._no_memory(self.s500)
            raise
        self.counters["ike_rx"] += 1
        self.on_ike(data, remote, False)

    def _no_memory(self, sock):
        # No contiguous block for the datagram: take it off the socket anyway (UDP truncates to one
        # byte) so the socket does not stay readable and spin the loop; the caller re-raises. The
        # failed read may have taken it already (the unix port copies a datagram out of its buffer,
        # and that copy can fail): then nothing waits, EAGAIN, where a blocking socket would hang.
        self.counters["rx_no_memory"] += 1
        try:
            sock.recvfrom(1)
        except OSError:
            pass

    def natt_batch(self, budget):
        """Read up to `budget` datagrams waiting on UDP 4500 and pass each on (natt()): in one call,
        so a datagram costs no poll() and no call frame of its own. Returns how many."""
        sock = self.s4500
        k = 0
        while k < budget:
            try:
                d = sock.recvfrom(RX_MAX)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    break       # nothing more waiting
                raise
            except MemoryError:
                self._no_memory(sock)
                raise
            self.natt(d[0], d[1])
            k += 1
        return k

    def natt(self, data, remote):
        """A datagram from UDP 4500: IKE, keepalive or ESP (RFC 3948)."""
        n = _len(data)
        if n == 1 and data[0] == 0xFF:
            self.counters["keepalive_rx"] += 1
        elif n >= nc.NON_ESP_MARKER_LEN and data[0] == 0 and data[1] == 0 and data[2] == 0 and data[3] == 0:
            self.counters["ike_rx"] += 1
            self.on_ike(data[nc.NON_ESP_MARKER_LEN:], remote, True)
        elif n < 8:
            self.counters["runt"] += 1  # shorter than an ESP header (SPI + sequence number)
        elif self.on_esp is None:
            self.counters["esp_no_engine"] += 1
        else:
            self.counters["esp_rx"] += 1
            self.on_esp(data, remote)

    def _send(self, sock, data, remote):
        try:
            sock.sendto(data, remote)
        except OSError:
            self.counters["tx_errors"] += 1  # no route / buffer full: IKE retransmits, ESP is lossy

    def send_ike(self, data, remote, natt):
        if natt:
            self._send(self.s4500, nc.NON_ESP_MARKER + data, remote)
        else:
            self._send(self.s500, data, remote)

    def send_esp(self, data, remote):
        # _send inlined: one call less on every ESP packet.
        try:
            self.s4500.sendto(data, remote)
        except OSError:
            self.counters["tx_errors"] += 1

    def send_keepalive(self, remote):
        self._send(self.s4500, nc.NATT_KEEPALIVE, remote)

    def close(self):
        self.s500.close()
        self.s4500.close()
