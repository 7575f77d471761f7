# A model of the WIZnet W5500 as seen over SPI, enough to drive net/ports/w5500.py through its code
# paths: the SPI frame (address, control byte, data), the common registers, socket register blocks,
# socket 0 commands (OPEN/CLOSE/SEND/RECV) and its RX/TX ring buffers in MACRAW mode (2-byte length
# header counting itself), 16-bit pointers the chip masks to the buffer size, the MACRAW filters, and
# SEND_OK raised a few IR reads after SEND. Written from the W5500 datasheet v1.1, not from the driver.

COMMON = 0
VERSIONR = 0x39
SN_MR, SN_CR, SN_IR, SN_SR = 0x00, 0x01, 0x02, 0x03
RXBUF_SIZE, TXBUF_SIZE = 0x1E, 0x1F
TX_FSR, TX_RD, TX_WR, RX_RSR, RX_RD, RX_WR = 0x20, 0x22, 0x24, 0x26, 0x28, 0x2A
SEND_OK = 0x10
_LOG_FRAMES = 1024  # SPI frames the log keeps


class FakeW5500:
    def __init__(self, version=4, start_ptr=0, send_latency=2, complete_sends=True):
        self.version = version
        self.start_ptr = start_ptr
        self.send_latency = send_latency
        self.complete_sends = complete_sends
        self.sent = []
        self.dropped = 0
        self.overlapped_sends = 0
        self.resets = 0
        self.opens = 0
        self.link = True
        self.log = []                                    # (block, address, write) per recent SPI frame
        self._reset()
        self._cs = 1

    # -- chip state --

    def _reset(self):
        self.common = bytearray(0x40)
        self.common[VERSIONR] = self.version
        self.sock = [bytearray(0x30) for _ in range(8)]
        for s in self.sock:
            s[RXBUF_SIZE] = 2
            s[TXBUF_SIZE] = 2
        self.txbuf = bytearray(16 * 1024)
        self.rxbuf = bytearray(16 * 1024)
        self.tx_rd = self.tx_wr = self.rx_rd = self.rx_wr = 0
        self.rsr = 0
        self.ir_countdown = -1
        self.in_flight = False

    def _size(self, reg):
        return self.sock[0][reg] * 1024

    def _r16(self, reg):
        s = self.sock[0]
        return (s[reg] << 8) | s[reg + 1]

    def _w16(self, reg, v):
        s = self.sock[0]
        s[reg] = (v >> 8) & 0xFF
        s[reg + 1] = v & 0xFF

    def _command(self, cmd):
        s = self.sock[0]
        if cmd == 0x01:                                  # OPEN
            self.opens += 1
            if s[SN_MR] & 0x0F == 0x04:
                s[SN_SR] = 0x42
            p = self.start_ptr
            self.tx_rd = self.rx_rd = self.rx_wr = p
            self.tx_wr = p
            self._w16(TX_WR, p)
            self._w16(RX_RD, p)
            self.rsr = 0
        elif cmd == 0x10:                                # CLOSE
            s[SN_SR] = 0
        elif cmd == 0x20:                                # SEND: TX_RD..TX_WR goes out as one frame
            if self.in_flight:
                self.overlapped_sends += 1
            self.tx_wr = self._r16(TX_WR)
            n = (self.tx_wr - self.tx_rd) & 0xFFFF
            mask = self._size(TXBUF_SIZE) - 1
            self.sent.append(bytes(self.txbuf[(self.tx_rd + i) & mask] for i in range(n)))
            self.in_flight = True
            if self.complete_sends:
                self.ir_countdown = self.send_latency
        elif cmd == 0x40:                                # RECV: RX_RD written by the host takes effect
            self.rx_rd = self._r16(RX_RD)
            self.rsr = (self.rx_wr - self.rx_rd) & 0xFFFF

    def _read(self, bsb, addr):
        if bsb == 0:
            return self.common[addr] if addr < 0x40 else 0
        if bsb == 1:
            if addr in (TX_FSR, TX_FSR + 1):
                v = self._size(TXBUF_SIZE) - ((self._r16(TX_WR) - self.tx_rd) & 0xFFFF)
            elif addr in (TX_RD, TX_RD + 1):
                v = self.tx_rd
            elif addr in (RX_RSR, RX_RSR + 1):
                v = self.rsr
            elif addr in (RX_WR, RX_WR + 1):
                v = self.rx_wr
            elif addr == SN_IR:
                if self.ir_countdown > 0:
                    self.ir_countdown -= 1
                elif self.ir_countdown == 0:
                    self.sock[0][SN_IR] |= SEND_OK
                    self.ir_countdown = -1
                    self.tx_rd = self.tx_wr
                    self.in_flight = False
                return self.sock[0][SN_IR]
            else:
                return self.sock[0][addr]
            return (v >> 8) & 0xFF if addr & 1 == 0 else v & 0xFF
        if 5 <= bsb <= 29 and bsb % 4 == 1:
            return self.sock[(bsb - 1) // 4][addr]
        if bsb == 2:
            return self.txbuf[addr & (self._size(TXBUF_SIZE) - 1)]
        if bsb == 3:
            return self.rxbuf[addr & (self._size(RXBUF_SIZE) - 1)]
        raise AssertionError("read from unmodelled block %d" % bsb)

    def _write(self, bsb, addr, v):
        if bsb == 0:
            if addr == 0 and v & 0x80:
                self.resets += 1
                self._reset()
                return
            self.common[addr] = v
        elif bsb == 1:
            if addr == SN_CR:
                self._command(v)
            elif addr == SN_IR:
                self.sock[0][SN_IR] &= ~v & 0xFF
            else:
                self.sock[0][addr] = v
        elif 5 <= bsb <= 29 and bsb % 4 == 1:
            self.sock[(bsb - 1) // 4][addr] = v
        elif bsb == 2:
            self.txbuf[addr & (self._size(TXBUF_SIZE) - 1)] = v
        else:
            raise AssertionError("write to unmodelled block %d" % bsb)

    # -- the wire side --

    def inject(self, frame):
        """A frame arrives from the LAN; the MACRAW filters of Sn_MR apply."""
        mr = self.sock[0][SN_MR]
        if self.sock[0][SN_SR] != 0x42:
            self.dropped += 1
            return False
        dst = frame[0:6]
        bcast = dst == b"\xff" * 6
        if mr & 0x80 and not bcast and dst != bytes(self.common[9:15]) and not dst[0] & 1:
            self.dropped += 1
            return False
        if (mr & 0x20 and dst[0] & 1 and not bcast) or (mr & 0x10 and frame[12:14] == b"\x86\xdd"):
            self.dropped += 1
            return False
        size = self._size(RXBUF_SIZE)
        used = (self.rx_wr - self.rx_rd) & 0xFFFF
        n = len(frame) + 2
        if used + n > size:
            self.dropped += 1
            return False
        data = bytes((n >> 8, n & 0xFF)) + frame
        for i in range(n):
            self.rxbuf[(self.rx_wr + i) & (size - 1)] = data[i]
        self.rx_wr = (self.rx_wr + n) & 0xFFFF
        self.rsr = (self.rx_wr - self.rx_rd) & 0xFFFF
        return True

    # -- the SPI side: machine.SPI methods and a machine.Pin for CS --

    def cs(self, v):
        if v == 0:
            assert self._cs == 1, "CS already low"
            self._hdr = bytearray()
        self._cs = v

    def _next(self):
        a = self._addr
        self._addr = (a + 1) & 0xFFFF
        return a

    def _header(self, b):
        self._hdr.append(b)
        if len(self._hdr) == 3:
            self._addr = (self._hdr[0] << 8) | self._hdr[1]
            ctrl = self._hdr[2]
            assert ctrl & 0x03 == 0, "variable-length data mode expected"
            self._bsb = ctrl >> 3
            self._wr = bool(ctrl & 0x04)
            self.log.append((self._bsb, self._addr, self._wr))
            if len(self.log) > _LOG_FRAMES:  # a board polls its port for good: keep the recent ones
                del self.log[:_LOG_FRAMES // 2]

    def write(self, buf):
        assert self._cs == 0, "SPI write with CS high"
        for b in buf:
            if len(self._hdr) < 3:
                self._header(b)
            else:
                assert self._wr, "data written in a read frame"
                self._write(self._bsb, self._next(), b)

    def readinto(self, buf):
        assert self._cs == 0 and len(self._hdr) == 3 and not self._wr, "read outside a read frame"
        for i in range(len(buf)):
            buf[i] = self._read(self._bsb, self._next())
