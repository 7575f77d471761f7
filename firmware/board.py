# The board the firmware runs on: its definition (/board.json, which `branchgate image build` writes
# from boards/NAME/board.json) and the parts main needs from it: the WAN interface, the LAN port,
# status LED, safe-mode button, watchdog, reset cause and restart.
#
# The sim board (the unix port, chip "unix") has none of that hardware, so this module stands in
# for it and main runs the same code paths:
# - WAN: the namespace's owner puts the address on an interface; binding the WAN sockets is the
#   test that it is there.
# - LAN: an AF_PACKET socket on the interface the configuration (or the definition) names.
# - Watchdog: SimWdt. Not fed within its timeout, it ends the process with EXIT_WATCHDOG, the
#   sim's reset; it also touches HEARTBEAT so `branchgate sim run` can kill a firmware that hangs
#   and never feeds it again.
# - Button: held while the file BUTTON exists in the board's root (tests create it).
# - Reset cause: the one `branchgate sim run` passes in $BRANCHGATE_RESET_CAUSE for each start.
# - Restart: exit with EXIT_RESTART; `branchgate sim run` starts the firmware again.
import json
import os
import sys
import time

import log

DEFINITION = "board.json"
SIM_CHIP = "unix"
# Used when the sim board's root has no board.json (`branchgate provision` writes only the config).
SIM_DEFINITION = {"name": "sim", "chip": SIM_CHIP, "wan": {"type": "host", "addressing": "static"},
                  "lan": {"type": "afpacket", "ifname": "bglan0"}, "led": {"pin": "sim"},
                  "button": {"pin": "sim"}}
# Longest time the main loop may go without feeding the watchdog. One loop iteration can hold a
# DH computation, a few seconds in pure Python on an ESP32 (ENVIRONMENT.md: 100-150x the sim).
WDT_MS = 30000
EXIT_RESTART = 75   # sim: "reset me" after an unhandled exception (sim run restarts the firmware)
EXIT_WATCHDOG = 76  # sim: the watchdog fired
HEARTBEAT = "wdt.beat"
BUTTON = "button"
RESET_CAUSE_ENV = "BRANCHGATE_RESET_CAUSE"
WDT_ENV = "BRANCHGATE_WDT_MS"  # sim only: a shorter watchdog for tests

SIM = sys.platform == "linux"  # the unix port

_LOG = log.Logger("board")


# machine.reset_cause() values (the same numbers on every port) -> our names.
_CAUSES = {1: "power-on", 2: "hard", 3: "watchdog", 4: "deep-sleep", 5: "soft"}


def reset_cause():
    """Why this boot happened: "power-on", "watchdog", "soft" (a restart after a crash)..."""
    if SIM:
        return os.getenv(RESET_CAUSE_ENV) or "power-on"
    import machine
    c = machine.reset_cause()
    return _CAUSES.get(c, "unknown (%d)" % c)


def restart():
    """Reset the device (never returns). Needs no board definition: it may be what is broken."""
    if SIM:
        sys.exit(EXIT_RESTART)
    import machine
    machine.reset()


def load(path=DEFINITION):
    """The board definition (dict). Without one, the unix port is the sim board; a hardware board
    without its definition cannot bring its interfaces up (OSError)."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        if SIM:
            return SIM_DEFINITION
        raise


def open_board(definition=None):
    d = definition or load()
    return Sim(d) if d.get("chip") == SIM_CHIP else Hardware(d)


class Sim:
    def __init__(self, d):
        self.d = d
        self.name = d["name"]
        self.sim = True
        self._led = None

    def button_held(self):
        try:
            os.stat(BUTTON)
            return True
        except OSError:
            return False

    def led(self, on):
        if on != self._led:
            self._led = on
            _LOG.debug("LED %s" % ("on" if on else "off"))

    def watchdog(self):
        ms = os.getenv(WDT_ENV)
        return SimWdt(int(ms) if ms else WDT_MS)

    def wan_up(self, wan):
        """The address to bind the WAN sockets to (bytes(4)); on the sim the configured one."""
        return wan.addr

    def lan_port(self, lan):
        """The LAN port for config `lan` (None: host mode)."""
        if lan is None or self.d["lan"]["type"] == "host":
            return None
        from net.ports.afpacket import AfPacketPort
        return AfPacketPort(lan.port or self.d["lan"]["ifname"])


class SimWdt:
    """machine.WDT's behaviour on the sim: once made, feed() is due every timeout_ms."""

    def __init__(self, timeout_ms):
        self.timeout = timeout_ms
        self.fed = time.ticks_ms()
        self._beat = None
        self.feed()

    def feed(self):
        now = time.ticks_ms()
        late = time.ticks_diff(now, self.fed)
        if late > self.timeout:
            # Fed again, but too late: on a board the reset would already have happened.
            _LOG.error("watchdog: not fed for %d ms (timeout %d ms), resetting" % (late, self.timeout))
            sys.exit(EXIT_WATCHDOG)
        self.fed = now
        if self._beat is None or time.ticks_diff(now, self._beat) >= self.timeout // 4:
            self._beat = now
            with open(HEARTBEAT, "w") as f:
                f.write("%d\n" % self.timeout)


class Hardware:
    def __init__(self, d):
        from machine import Pin
        self.d = d
        self.name = d["name"]
        self.sim = False
        self._nic = None
        led = d["led"]
        self._led_pin = Pin(led["pin"], Pin.OUT)
        self._led_on = 0 if led["active_low"] else 1
        b = d["button"]
        self._button = Pin(b["pin"], Pin.IN, Pin.PULL_UP if b["pull"] == "internal" else None)
        self._pressed = 0 if b["active_low"] else 1

    def button_held(self):
        return self._button() == self._pressed

    def led(self, on):
        self._led_pin(self._led_on if on else 1 - self._led_on)

    def watchdog(self):
        import machine
        return machine.WDT(timeout=WDT_MS)

    def wan_up(self, wan):
        """Bring the EMAC up (network.LAN with the definition's pins and PHY) and address it: static
        with the configured address, else DHCP. Returns the address to bind (bytes(4)); OSError
        while the link is down or no lease came yet (the caller retries)."""
        import network
        from machine import Pin
        w = self.d["wan"]
        if self._nic is None:
            kw = {"mdc": Pin(w["mdc"]), "mdio": Pin(w["mdio"]), "phy_type": getattr(network, "PHY_" + w["phy"]),
                  "phy_addr": w["phy_addr"]}
            for k in ("power", "reset"):
                if k in w:
                    kw[k] = Pin(w[k])
            if "ref_clk" in w:
                kw["ref_clk"] = Pin(w["ref_clk"])
                kw["ref_clk_mode"] = Pin.OUT if w["ref_clk_mode"] == "out" else Pin.IN
            nic = network.LAN(**kw)
            nic.active(True)
            if wan.addr is not None:
                kw = {"addr4": wan.cidr}
                if wan.gateway is not None:
                    kw["gw4"] = "%d.%d.%d.%d" % tuple(wan.gateway)
                nic.ipconfig(**kw)
            else:
                nic.ipconfig(dhcp4=True)
            self._nic = nic
        nic = self._nic
        if wan.addr is not None:
            if nic.status() not in (network.ETH_CONNECTED, network.ETH_GOT_IP):
                raise OSError("WAN link down (cable?)")
            return wan.addr
        if not nic.isconnected():
            raise OSError("WAN: no DHCP lease yet")
        from net import addr
        return addr.parse_ip(nic.ipconfig("addr4")[0])

    def lan_port(self, lan):
        l = self.d["lan"]
        if lan is None or l["type"] == "host":
            return None
        if l["type"] != "w5500":
            raise OSError("LAN port type %s has no driver" % l["type"])
        from machine import SPI, Pin
        from net.ports.w5500 import W5500Port
        if "reset" in l:
            rst = Pin(l["reset"], Pin.OUT, value=0)
            time.sleep_ms(1)  # W5500 datasheet 5.5.1: RSTn low at least 500 us,
            rst(1)
            time.sleep_ms(2)  # then up to 1 ms until its PLL locks
        spi = SPI(l["spi"], baudrate=l["baudrate"], sck=Pin(l["sck"]), mosi=Pin(l["mosi"]), miso=Pin(l["miso"]))
        return W5500Port(spi, Pin(l["cs"], Pin.OUT, value=1), _lan_mac())


def _lan_mac():
    # The LAN port's own station address: the chip's unique id, locally administered (bit 1 of the
    # first octet set, multicast bit clear), so it never equals the EMAC's.
    import machine
    return b"\x02" + bytes(machine.unique_id()[-5:])
