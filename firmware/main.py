# branchgate firmware entry point: bring the board up in order (config store, WAN, LAN port, IKE
# responder, ESP engine), then run the one event loop: select.poll over the sockets/ports with the
# responder's timers as the timeout. Ctrl-C (KeyboardInterrupt) or the board's stop line (the sim board's:
# `branchgate sim run` turns SIGINT/SIGTERM into a byte on it) is a graceful shutdown: DELETE to every
# peer, then exit 0.
# Recovery (recovery.py): boot steps that fail for outside reasons are retried with backoff, an
# unhandled exception restarts the device after logging it, the watchdog is fed by the loop, and a
# crash loop, the button held at boot or a missing config start the provisioning console only.
import gc
import select
import sys

from micropython import const

import board
import cfgview
import health
import log

ROOT = "."                   # the board's filesystem root (the sim board runs in its --root)
STATUS_FILE = "status.json"  # the device's view of its SAs, rewritten atomically on changes
RECOVER_MS = 100             # poll timeout after a failed iteration (no busy loop on a lasting fault)
_BRINGUP_GC_BYTES = const(4096)  # gc.threshold while coming up (see Board)
_IKE_GC_BYTES = const(4096)      # and while the IKE side runs, on a short heap (see ike_input)
_SHORT_BYTES = const(98304)      # short: less free than this once up (the chip's: ~40 KB)
# Modules only coming up needs (retries, the board's platform): they leave the heap once it is up,
# ~3 KB of a chip's (board_esp32.py) and are loaded again for what needs them later (a shutdown, the
# console's restart, the crash counter's reset).
_BOOT_ONLY = ("recovery", "board_sim", "board_esp32")

_LOG = log.Logger("main")


class Board:
    def __init__(self, hw, root=ROOT, status_file=STATUS_FILE):
        # Collect every few KB while coming up: what is loaded for good then fills the holes the config
        # store and the imports leave, not fresh heap above them. Without it the long-lived objects end
        # up strewn among those holes, and a buffer of a few KB finds no room in a heap that has plenty
        # (the sim board, 4 peers: up in 117k heap with it, 130k without).
        gc.threshold(_BRINGUP_GC_BYTES)
        self.cfg = cfgview.load(root)
        # Started once there is a tunnel to run: it cannot be stopped, and safe mode has no loop.
        self.wdt = wdt = hw.watchdog()
        gc.collect()  # the config store's code goes before the protocol code comes in
        log.set_level(self.cfg.log_level)
        import recovery
        from ike import responder
        from ipsec import sad as sad_mod
        from net import wan as wan_mod

        cfg_wan = self.cfg.wan
        # The address may not be up yet (link down, DHCP, a namespace being built): retry.
        self.wan = recovery.retry(lambda: wan_mod.Wan(hw.wan_up(cfg_wan), rcvbuf=hw.wan_rcvbuf),
                                  "WAN %s (is the address on an interface?)" % cfg_wan.cidr, wdt)
        self.sad = sad_mod.Sad()
        self.responder = responder.Responder(self.cfg, self.wan, self.sad, status_file)
        self.sad.on_event = self.responder.sad_event
        self.wan.on_ike = self.ike_input
        import dataplane
        lan = self.cfg.lan
        port = recovery.retry(lambda: hw.lan_port(lan), "LAN port (interface present?)", wdt)
        self.dp = dataplane.DataPlane(self.cfg, self.wan, self.sad, port)
        self.responder.dataplane = self.dp  # its counters go into the status view
        for name in _BOOT_ONLY:  # nothing running holds their code (the watchdog has a module of its own)
            sys.modules.pop(name, None)
        # Up: the packet path collects only when the heap runs out (its garbage is short-lived, and a
        # collection every few packets would halve the throughput); the IKE side, on a short heap,
        # more often.
        gc.threshold(-1)
        gc.collect()
        self.ike_gc = _IKE_GC_BYTES if gc.mem_free() < _SHORT_BYTES else -1
        self.poller = select.poll()
        for s in self.wan.sockets():
            self.poller.register(s, select.POLLIN)
        self.dp.register(self.poller, select.POLLIN)
        self.console = None  # provision.Console: loaded when the first byte arrives on the console
        self.poller.register(sys.stdin, select.POLLIN)
        self.stop_fd = hw.stop_fd()
        if self.stop_fd is not None:
            self.poller.register(self.stop_fd, select.POLLIN)
        _LOG.info("up: WAN %s, peers %s, heap free %d" % (
            self.cfg.wan.cidr, ", ".join([p.name for p in self.cfg.peers]), gc.mem_free()))

    def step(self, timeout):
        """One loop iteration: handle what is readable, run timers; returns the next poll timeout."""
        wan = self.wan
        events = self.poller.poll(timeout)
        try:
            for ev in events:
                obj = ev[0]
                if obj is wan.s500:
                    wan.ike_input()
                elif obj is wan.s4500:
                    self.dp.wan_input()
                elif obj is self.dp.pollable:
                    self.dp.poll()
                elif obj is sys.stdin:
                    self.console_input()
                elif obj == self.stop_fd:
                    raise KeyboardInterrupt  # the same graceful stop as Ctrl-C
            if self.console is not None and self.console.idle():
                self.console = None  # provision.py's code leaves the heap until the console speaks again
                del sys.modules["provision"]
            self.sad.tick()
            self.dp.tick()
            return self.responder.tick(not events)
        except MemoryError as e:
            # A burst outgrew the heap: what was being handled is dropped (IKE retransmits), the
            # device goes on.
            gc.collect()
            _LOG.error("out of memory (datagram or timer dropped); heap free %d" % gc.mem_free())
            sys.print_exception(e)
        except Exception as e:  # a bug must cost one datagram, not the tunnel
            _LOG.error("internal error: %s" % type(e).__name__)
            sys.print_exception(e)
        return RECOVER_MS

    def ike_input(self, data, remote, natt):
        # An exchange leaves SAs that stay among the garbage of its modules, DH and messages. On a
        # short heap that garbage is collected every 4 KB: it goes while it is small, and what stays
        # lands low in the heap, next to what is there already, not strewn among holes that later
        # refuse a 1600-byte datagram with 25 KB free (the sim board, 4 x 2 SAs: up in 168k rather
        # than 176k; 120k rather than 128k on a 32-bit build). With room to spare (the tests' 256k)
        # the garbage waits for the heap to fill: the collections cost time (1.4-2.4x a handshake).
        gc.threshold(self.ike_gc)
        try:
            self.responder.input(data, remote, natt)
        finally:
            gc.threshold(-1)

    def console_input(self):
        """The serial console carries the provisioning protocol (provision.py, loaded on first use)."""
        if self.console is None:
            try:
                import provision
            except MemoryError:  # no heap for it now: drop the byte (the host retries), do not spin
                sys.stdin.buffer.read(1)
                return
            self.console = provision.Console(self.poller, self, ROOT)
        self.console.handle()

    def run(self):
        timeout = 0
        wdt = self.wdt
        try:
            while True:
                timeout = self.step(timeout)
                wdt.feed()
                health.tick()
        except KeyboardInterrupt:
            _LOG.info("shutting down")
            self.responder.shutdown()
            self.wan.close()
            self.dp.close()
            _healthy()  # an orderly stop is no crash
        return 0


def safe_mode(hw, why):
    """The provisioning console only: no WAN sockets, no tunnel, no watchdog. Clears the crash
    counter, so the next reset (after the user fixed what was wrong) tries a normal boot."""
    _healthy()
    health.safe_mode(why)
    _LOG.warn("safe mode (%s): the tunnel stays down, provisioning console only" % why)
    if hw is not None:
        hw.led(True)
    import provision
    return provision.serve(ROOT, why, hw.stop_fd() if hw is not None else None)


def start(crashes, limit):
    if crashes >= limit:
        return safe_mode(None, "%d crashes in a row" % crashes)
    hw = board.open_board()
    health.board(hw.name)
    if hw.button_held():
        return safe_mode(hw, "button held at boot")
    try:
        dev = Board(hw)
    except ValueError as e:  # config.ConfigError: not provisioned, damaged or invalid
        _LOG.error("cannot start: %s" % e)
        return safe_mode(hw, "no valid configuration")
    hw = None  # its platform module has left (Board): let its code go too
    health.running(dev)
    return dev.run()


def _healthy():
    import recovery
    recovery.healthy()


def _boot(cause):
    """(crashes in a row before this boot, how many start safe mode): recovery.py counts this one."""
    import recovery
    return recovery.boot(cause), recovery.CRASH_LIMIT


def main():
    # Code before data: the board's root (the current directory) holds a "config" directory that
    # would otherwise shadow the config module as a namespace package.
    if "" in sys.path:
        sys.path.remove("")
        sys.path.append("")
    cause = board.reset_cause()
    crashes, limit = _boot(cause)
    health.booted(cause, crashes)
    _LOG.info("boot: reset cause %s, %d crashes in a row before" % (cause, crashes))
    try:
        return start(crashes, limit)
    except KeyboardInterrupt:  # stopped while still coming up (e.g. waiting for the WAN address)
        _healthy()
        return 0
    except Exception as e:  # a bug: log it, then reset (this boot already counts as a crash)
        # Nothing to load on this path: the heap may be what failed.
        log.emit(log.ERROR, "boot", "unhandled %s: restarting", (type(e).__name__,))
        sys.print_exception(e)
        board.restart()


if __name__ == "__main__":
    sys.exit(main())
