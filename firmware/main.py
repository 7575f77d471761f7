# branchgate firmware entry point: bring the board up in order (config store, WAN, LAN port, IKE
# responder, ESP engine: bringup.py), then run the one event loop: select.poll over the sockets/ports with
# the responder's timers as the timeout. Ctrl-C (KeyboardInterrupt) or the board's stop line (the sim
# board's: `branchgate sim run` turns SIGINT/SIGTERM into a byte on it) is a graceful shutdown: DELETE
# to every peer, then exit 0.
# Recovery (recovery.py): boot steps that fail for outside reasons are retried with backoff, an
# unhandled exception restarts the device after logging it, the watchdog is fed by the loop, and a
# crash loop, the button held at boot or a missing config start the provisioning console only.
import gc
import sys

import board
import health
import log

ROOT = "."                   # the board's filesystem root (the sim board runs in its --root)
STATUS_FILE = "status.json"  # the device's view of its SAs, rewritten atomically on changes
RECOVER_MS = 100             # poll timeout after a failed iteration (no busy loop on a lasting fault)

_LOG = log.Logger("main")


class Board:
    def __init__(self, hw, root=ROOT, status_file=STATUS_FILE):
        import bringup  # it lets itself go once the board is up
        bringup.bring_up(self, hw, root, status_file)

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
            import recovery
            recovery.healthy()  # an orderly stop is no crash
        return 0


def main():
    # Code before data: the board's root (the current directory) holds a "config" directory that
    # would otherwise shadow the config module as a namespace package.
    if "" in sys.path:
        sys.path.remove("")
        sys.path.append("")
    try:
        dev = _start()
        return dev if isinstance(dev, int) else dev.run()
    except KeyboardInterrupt:  # stopped while still coming up (e.g. waiting for the WAN address)
        import recovery
        recovery.healthy()
        return 0
    except Exception as e:  # a bug: log it, then reset (this boot already counts as a crash)
        # Nothing to load on this path: the heap may be what failed.
        log.emit(log.ERROR, "boot", "unhandled %s: restarting", (type(e).__name__,))
        sys.print_exception(e)
        board.restart()


def _start():
    # Its own frame: once it returns, nothing holds bringup.py (Board let it go from sys.modules).
    import bringup
    return bringup.start(Board, ROOT)


if __name__ == "__main__":
    sys.exit(main())
