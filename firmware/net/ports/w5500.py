"""LAN port on hardware: a WIZnet W5500 over machine.SPI, socket 0 in MACRAW mode with all 16 KB of
RX and TX buffer memory (W5500 datasheet v1.1: 2.2 SPI frame, 3 register map, 4.2 socket registers).

SPI frame: address (16 bits), control byte (block select << 3 | write << 2 | variable-length mode 0),
then data while CS stays low. Buffer pointers are 16-bit offsets the chip wraps inside the socket's
buffer itself. In MACRAW mode each received frame sits in the RX buffer behind a 2-byte big-endian
length that counts itself.

machine.SPI reads and writes whole buffers, and a memoryview slice allocates; so frames move in
64-byte granules through views of the caller's buffer made once per length class (_Granules). The
extra bytes read past a frame are junk the caller ignores; the extra bytes written past one land in
free TX memory that TX_WR never covers.

The port is an io.IOBase whose ioctl answers MP_STREAM_POLL, so select.poll can wait on it (by
polling RX_RSR over SPI; the INT pin is not used)."""
import io

from micropython import const

from net import port as lanport

# Control byte: block select (BSB) for the common registers and socket 0's registers / buffers.
_COMMON = const(0x00)
_S0 = const(0x01 << 3)
_S0_TX = const(0x02 << 3)
_S0_RX = const(0x03 << 3)
_WRITE = const(0x04)

# Common registers.
_MR = const(0x0000)
_MR_RST = const(0x80)
_SHAR = const(0x0009)
_PHYCFGR = const(0x002E)
_PHYCFGR_LNK = const(0x01)
_VERSIONR = const(0x0039)
_VERSION = const(0x04)

# Socket registers.
_SN_MR = const(0x0000)
_SN_CR = const(0x0001)
_SN_IR = const(0x0002)
_SN_SR = const(0x0003)
_SN_RXBUF_SIZE = const(0x001E)
_SN_TXBUF_SIZE = const(0x001F)
_SN_TX_FSR = const(0x0020)
_SN_TX_WR = const(0x0024)
_SN_RX_RSR = const(0x0026)
_SN_RX_RD = const(0x0028)

# Sn_MR in MACRAW: MAC filter (own address + broadcast), block multicast and IPv6 (the gateway is
# IPv4-only).
_MR_MACRAW = const(0x04)
_MR_MIP6B = const(0x10)
_MR_MMB = const(0x20)
_MR_MFEN = const(0x80)
_CR_OPEN = const(0x01)
_CR_CLOSE = const(0x10)
_CR_SEND = const(0x20)
_CR_RECV = const(0x40)
_IR_SEND_OK = const(0x10)
_SOCK_MACRAW = const(0x42)

_BUF_KB = const(16)
_GRAIN = const(64)
_TRIES = const(1000)        # bound on every wait for the chip
_MP_STREAM_POLL = const(3)
_POLLIN = const(1)


class _Granules:
    """Views buf[0:64k], each made on first use."""

    def __init__(self, buf):
        self.buf = buf
        self._mv = memoryview(buf)
        self._v = [None] * ((len(buf) + _GRAIN - 1) // _GRAIN)

    def get(self, n):
        k = (n + _GRAIN - 1) // _GRAIN
        v = self._v[k - 1]
        if v is None:
            v = self._v[k - 1] = self._mv[0:k * _GRAIN]
        return v


class W5500Port(io.IOBase):
    """spi: a configured machine.SPI (mode 0 or 3, up to 80 MHz); cs: the chip-select machine.Pin
    (output, high); mac: bytes(6)."""

    def __init__(self, spi, cs, mac):
        self._spi = spi
        self._cs = cs
        self.mac = mac
        self.pollable = self
        self._hdr = bytearray(3)
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._rx = None
        self._tx = [None, None]      # two most recent send buffers: the data path and the ARP/ICMP
        self.reset()

    # -- SPI access --

    def _begin(self, block, addr):
        h = self._hdr
        h[0] = addr >> 8
        h[1] = addr & 0xFF
        h[2] = block
        self._cs(0)
        self._spi.write(h)

    def _read(self, block, addr, buf):
        self._begin(block, addr)
        self._spi.readinto(buf)
        self._cs(1)

    def _write(self, block, addr, buf):
        self._begin(block | _WRITE, addr)
        self._spi.write(buf)
        self._cs(1)

    def _r8(self, block, addr):
        self._read(block, addr, self._b1)
        return self._b1[0]

    def _w8(self, block, addr, v):
        self._b1[0] = v
        self._write(block, addr, self._b1)

    def _r16(self, block, addr):
        b = self._b2
        self._read(block, addr, b)
        return (b[0] << 8) | b[1]

    def _w16(self, block, addr, v):
        b = self._b2
        b[0] = v >> 8
        b[1] = v & 0xFF
        self._write(block, addr, b)

    def _r16_stable(self, addr):
        """RX_RSR and TX_FSR change under the chip: read until two reads agree (datasheet 4.2)."""
        v = self._r16(_S0, addr)
        for _ in range(_TRIES):
            w = self._r16(_S0, addr)
            if w == v:
                return v
            v = w
        return 0

    def _command(self, cmd):
        # Sn_CR clears itself once the chip accepted the previous command.
        for _ in range(_TRIES):
            if not self._r8(_S0, _SN_CR):
                break
        self._w8(_S0, _SN_CR, cmd)

    # -- set-up --

    def reset(self):
        """Soft-reset the chip and open socket 0 in MACRAW mode; OSError if no W5500 answers."""
        self._w8(_COMMON, _MR, _MR_RST)
        for _ in range(_TRIES):
            if not self._r8(_COMMON, _MR) & _MR_RST:
                break
        if self._r8(_COMMON, _VERSIONR) != _VERSION:
            raise OSError("W5500 not found")
        self._write(_COMMON, _SHAR, self.mac)
        for n in range(8):
            block = (n * 4 + 1) << 3
            size = _BUF_KB if n == 0 else 0
            self._w8(block, _SN_RXBUF_SIZE, size)
            self._w8(block, _SN_TXBUF_SIZE, size)
        self._w8(_S0, _SN_MR, _MR_MACRAW | _MR_MFEN | _MR_MMB | _MR_MIP6B)
        self._command(_CR_OPEN)
        if self._r8(_S0, _SN_SR) != _SOCK_MACRAW:
            raise OSError("W5500 MACRAW open failed")
        self._tx_wr = self._r16(_S0, _SN_TX_WR)
        self._rx_rd = self._r16(_S0, _SN_RX_RD)
        self._rx_left = 0
        self._sending = False

    def link_up(self):
        return bool(self._r8(_COMMON, _PHYCFGR) & _PHYCFGR_LNK)

    # -- the port interface (net/port.py) --

    def recv_into(self, buf):
        # RX_RSR is read only when the frames counted by the last reading are used up, and RX_RD
        # only ever moves by our hand: in a burst a frame costs five SPI transactions.
        if self._rx_left <= 0:
            self._rx_left = self._r16_stable(_SN_RX_RSR)
            if not self._rx_left:
                return 0
        g = self._rx
        if g is None or g.buf is not buf:
            g = self._rx = _Granules(buf)
        rd = self._rx_rd
        n = self._r16(_S0_RX, rd) - 2
        if n < 14 or n > len(buf) or n + 2 > self._rx_left:
            # A length no frame can have: the ring is out of step; start socket 0 afresh.
            self.reset()
            return 0
        self._read(_S0_RX, (rd + 2) & 0xFFFF, g.get(n))
        rd = (rd + n + 2) & 0xFFFF
        self._rx_rd = rd
        self._rx_left -= n + 2
        self._w16(_S0, _SN_RX_RD, rd)
        self._command(_CR_RECV)
        return n

    def send(self, buf, n):
        if self._sending and not self._wait_sent():
            return False
        if n < lanport.ETH_ZLEN:
            n = lanport.pad(buf, n)
        tx = self._tx
        g = tx[0]
        if g is None or g.buf is not buf:
            g = tx[1]
            if g is None or g.buf is not buf:
                g = _Granules(buf)
            tx[1] = tx[0]
            tx[0] = g
        v = g.get(n)
        if self._r16_stable(_SN_TX_FSR) < len(v):
            return False
        wr = self._tx_wr
        self._write(_S0_TX, wr, v)
        wr = (wr + n) & 0xFFFF
        self._w16(_S0, _SN_TX_WR, wr)
        self._tx_wr = wr
        self._command(_CR_SEND)
        self._sending = True
        return True

    def _wait_sent(self):
        """Wait for the previous SEND to finish and acknowledge it; on a timeout (link down, chip
        wedged) start socket 0 afresh and report failure."""
        for _ in range(_TRIES):
            if self._r8(_S0, _SN_IR) & _IR_SEND_OK:
                self._w8(_S0, _SN_IR, _IR_SEND_OK)
                self._sending = False
                return True
        self.reset()
        return False

    def close(self):
        self._command(_CR_CLOSE)

    def ioctl(self, req, arg):
        if req == _MP_STREAM_POLL:
            return arg & _POLLIN if self._rx_left > 0 or self._r16_stable(_SN_RX_RSR) else 0
        # Anything else, notably MP_STREAM_GET_FILENO from the unix port's poll: not supported (an
        # answer of 0 would make poll watch stdin).
        return -1
