# The firmware's hardware boot path on the unix port: main.main() as an ESP32 board runs it, with fake
# `machine` and `network` modules standing in for the chip and tests/device/w5500_fake.py as the LAN
# controller on its SPI bus. For tests/unit/test_boot.py; run in a board root that holds board.json
# (a hardware definition) and a configuration:
#   micropython hwboard.py
# The fakes print "HW ..." lines for the test to read. The fake watchdog is stricter than the 30 s the
# firmware asks for: not fed for WDT_LIMIT_MS, it ends the process with WDT_EXIT.
import json
import sys
import time

from w5500_fake import FakeW5500

WDT_LIMIT_MS = 1000
WDT_EXIT = 77
RESET_EXIT = 75
CHIP = FakeW5500()
CS = json.load(open("board.json"))["lan"].get("cs")


def _n(v):
    return v.n if isinstance(v, Pin) else v


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2

    def __init__(self, n, mode=-1, pull=None, value=None):
        self.n = n
        self.level = 1 if value is None else value

    def __call__(self, v=None):
        if v is None:
            return self.level  # inputs read high: an active-low button is not pressed
        self.level = v
        if self.n == CS:
            CHIP.cs(v)


class WDT:
    def __init__(self, timeout):
        print("HW WDT timeout=%d" % timeout)
        self.fed = time.ticks_ms()

    def feed(self):
        late = time.ticks_diff(time.ticks_ms(), self.fed)
        if late > WDT_LIMIT_MS:
            print("HW WDT starved for %d ms" % late)
            sys.exit(WDT_EXIT)
        self.fed = time.ticks_ms()


class Machine:
    Pin = Pin
    WDT = WDT
    WDT_RESET = 3

    def reset_cause(self):
        return self.WDT_RESET

    def reset(self):
        print("HW machine.reset()")
        sys.exit(RESET_EXIT)

    def unique_id(self):
        return b"\x24\x0a\xc4\x11\x22\x33"

    def SPI(self, bus, baudrate, sck, mosi, miso):
        print("HW SPI bus=%d baudrate=%d sck=%d mosi=%d miso=%d" % (bus, baudrate, sck.n, mosi.n, miso.n))
        return CHIP


class Lan:
    def __init__(self, **kw):
        print("HW LAN " + " ".join(["%s=%s" % (k, _n(kw[k])) for k in sorted(kw)]))

    def active(self, on):
        print("HW LAN.active(%s)" % on)

    def ipconfig(self, **kw):
        print("HW LAN.ipconfig " + " ".join(["%s=%s" % (k, kw[k]) for k in sorted(kw)]))

    def status(self):
        return Network.ETH_GOT_IP


class Network:
    LAN = Lan
    PHY_LAN8720 = "PHY_LAN8720"
    PHY_IP101 = "PHY_IP101"
    ETH_CONNECTED = 3
    ETH_GOT_IP = 5


sys.modules["machine"] = Machine()
sys.modules["network"] = Network()
import board  # noqa: E402

board.SIM = False  # the chip's code paths: board_esp32, machine.reset_cause(), machine.reset()
import main  # noqa: E402

rc = main.main()
mac = bytes(CHIP.common[9:15])
print("HW W5500 resets=%d opens=%d mac=%s" % (CHIP.resets, CHIP.opens, ":".join(["%02x" % b for b in mac])))
sys.exit(rc)
