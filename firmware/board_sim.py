# The sim board's platform (the unix port), standing in for the hardware so main runs the same code
# paths as on a chip:
# - WAN: the namespace's owner puts the address on an interface; binding the WAN sockets is the
#   test that it is there.
# - LAN: an AF_PACKET socket on the interface the configuration (or the definition) names.
# - Watchdog: SimWdt (board_sim_wdt.py, apart so that this module leaves the heap once the board is
#   up and only the watchdog stays).
# - Button: held while the file BUTTON exists in the board's root (tests create it).
# - LED: its changes are logged.
# - Stop: `branchgate sim run` asks for the graceful stop with a byte on a pipe (stop_fd), which the
#   loop polls; a SIGINT would interrupt whatever runs, a garbage collection included.
import os

import board
import log

WDT_ENV = "BRANCHGATE_WDT_MS"  # a shorter watchdog than board.WDT_MS, for tests
STOP_FD_ENV = "BRANCHGATE_STOP_FD"
BUTTON = "button"
LAN_IFNAME = "bglan0"  # boards/sim/board.json's default

_LOG = log.Logger("board")


class Sim:
    # UDP 4500's kernel buffer: the default (~208 KB, ~140 datagrams) overflows while the process is
    # descheduled on a loaded host at the sim's top rate; kernel memory, not the firmware's heap.
    wan_rcvbuf = 1 << 20

    def __init__(self, d):
        self.name = d["name"] if d else "sim"
        self.lan_type = d["lan"]["type"] if d else "afpacket"
        self.lan_ifname = d["lan"].get("ifname", LAN_IFNAME) if d else LAN_IFNAME
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
            _LOG.info("status LED %s" % ("on" if on else "off"))

    def watchdog(self):
        from board_sim_wdt import SimWdt  # apart: the watchdog stays, this module goes once up
        ms = os.getenv(WDT_ENV)
        return SimWdt(int(ms) if ms else board.WDT_MS)

    def stop_fd(self):
        """The file descriptor that becomes readable when the runner wants the board to stop, or None."""
        fd = os.getenv(STOP_FD_ENV)
        return int(fd) if fd else None

    def wan_up(self, wan):
        """The address to bind the WAN sockets to (bytes(4)): the configured one."""
        return wan.addr

    def lan_port(self, lan):
        """The LAN port for the config's `lan` (None: host mode)."""
        if lan is None or self.lan_type == "host":
            return None
        from net.ports.afpacket import AfPacketPort
        return AfPacketPort(lan.port or self.lan_ifname)
