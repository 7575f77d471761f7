# The sim board's platform (the unix port), standing in for the hardware so main runs the same code
# paths as on a chip:
# - WAN: the namespace's owner puts the address on an interface; binding the WAN sockets is the
#   test that it is there.
# - LAN: an AF_PACKET socket on the interface the configuration (or the definition) names.
# - Watchdog: SimWdt. Fed too late, it ends the process with board.EXIT_WATCHDOG, the sim's reset;
#   it also touches HEARTBEAT, so `branchgate sim run` kills a firmware that stops feeding it.
# - Button: held while the file BUTTON exists in the board's root (tests create it).
# - LED: its changes are logged.
# - Stop: `branchgate sim run` asks for the graceful stop with a byte on a pipe (stop_fd), which the
#   loop polls; a SIGINT would interrupt whatever runs, a garbage collection included.
import os
import sys
import time

import board
import log

WDT_ENV = "BRANCHGATE_WDT_MS"  # a shorter watchdog than board.WDT_MS, for tests
STOP_FD_ENV = "BRANCHGATE_STOP_FD"
HEARTBEAT = "wdt.beat"
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


class SimWdt:
    """machine.WDT on the sim: once made, feed() is due every timeout_ms."""

    def __init__(self, timeout_ms):
        self.timeout = timeout_ms
        self.fed = time.ticks_ms()
        self._beat = None
        self.feed()

    def feed(self):
        now = time.ticks_ms()
        late = time.ticks_diff(now, self.fed)
        if late > self.timeout:
            # Fed again, but too late: on a chip the reset would have happened by now.
            _LOG.error("watchdog: not fed for %d ms (timeout %d ms), resetting" % (late, self.timeout))
            sys.exit(board.EXIT_WATCHDOG)
        self.fed = now
        if self._beat is None or time.ticks_diff(now, self._beat) >= self.timeout // 4:
            self._beat = now
            with open(HEARTBEAT, "w") as f:
                f.write("%d\n" % self.timeout)
