# A chip's platform, from its board definition (boards/README.md): the EMAC through network.LAN with
# the definition's pins and PHY, the LAN port (W5500 over SPI, or none in host mode), the status LED,
# the safe-mode button and machine.WDT. Untried on hardware so far (boards/README.md). machine and
# network are imported where used, so the module also imports on the sim and under CPython (tests).
import time

import board


class Esp32:
    wan_rcvbuf = 0  # lwIP sizes its UDP receive queues at build time (sdkconfig), not per socket

    def __init__(self, d):
        from machine import Pin
        self.d = d
        self.name = d["name"]
        self._nic = None
        led = d["led"]
        self._led = Pin(led["pin"], Pin.OUT)
        self._led_on = 0 if led["active_low"] else 1
        b = d["button"]
        self._button = Pin(b["pin"], Pin.IN, Pin.PULL_UP if b["pull"] == "internal" else None)
        self._pressed = 0 if b["active_low"] else 1

    def button_held(self):
        return self._button() == self._pressed

    def led(self, on):
        self._led(self._led_on if on else 1 - self._led_on)

    def watchdog(self):
        import machine
        return machine.WDT(timeout=board.WDT_MS)

    def stop_fd(self):
        return None  # no stop line: Ctrl-C on the console (a KeyboardInterrupt between bytecodes) stops it

    def wan_up(self, wan):
        """Bring the EMAC up and address it: the configured address, else DHCP. Returns the address
        to bind (bytes(4)); OSError while the link is down or no lease came yet (main retries)."""
        import network
        if self._nic is None:
            self._nic = _emac(network, self.d["wan"], wan)
        nic = self._nic
        if wan.addr is not None:
            if nic.status() not in (network.ETH_CONNECTED, network.ETH_GOT_IP):
                raise OSError("link down (cable, switch?)")
            return wan.addr
        if not nic.isconnected():
            raise OSError("no DHCP lease yet")
        from net import addr
        return addr.parse_ip(nic.ipconfig("addr4")[0])

    def lan_port(self, lan):
        """The LAN port for the config's `lan` (None: host mode)."""
        d = self.d["lan"]
        if lan is None or d["type"] == "host":
            return None
        if d["type"] != "w5500":
            raise OSError("LAN port %s has no driver" % d["type"])
        from machine import SPI, Pin
        from net.ports.w5500 import W5500Port
        if "reset" in d:
            rst = Pin(d["reset"], Pin.OUT, value=0)
            time.sleep_ms(1)  # W5500 datasheet 5.5.1: RSTn low at least 500 us,
            rst(1)
            time.sleep_ms(2)  # then up to 1 ms until its PLL locks
        spi = SPI(d["spi"], baudrate=d["baudrate"], sck=Pin(d["sck"]), mosi=Pin(d["mosi"]), miso=Pin(d["miso"]))
        return W5500Port(spi, Pin(d["cs"], Pin.OUT, value=1), _lan_mac())


def lan_kwargs(network, w):
    """network.LAN keyword arguments for the definition's `wan` section."""
    from machine import Pin
    kw = {"mdc": Pin(w["mdc"]), "mdio": Pin(w["mdio"]), "phy_type": getattr(network, "PHY_" + w["phy"]),
          "phy_addr": w["phy_addr"]}
    for k in ("power", "reset"):
        if k in w:
            kw[k] = Pin(w[k])
    if "ref_clk" in w:
        kw["ref_clk"] = Pin(w["ref_clk"])
        kw["ref_clk_mode"] = Pin.OUT if w["ref_clk_mode"] == "out" else Pin.IN
    return kw


def _emac(network, w, wan):
    nic = network.LAN(**lan_kwargs(network, w))
    nic.active(True)
    if wan.addr is not None:
        kw = {"addr4": wan.cidr}
        if wan.gateway is not None:
            kw["gw4"] = "%d.%d.%d.%d" % (wan.gateway[0], wan.gateway[1], wan.gateway[2], wan.gateway[3])
        nic.ipconfig(**kw)
    else:
        nic.ipconfig(dhcp4=True)
    return nic


def _lan_mac():
    # The LAN port's station address: the chip's unique id, locally administered (bit 1 of the first
    # octet set, multicast bit clear), so it never equals the EMAC's.
    import machine
    return b"\x02" + bytes(machine.unique_id()[-5:])
