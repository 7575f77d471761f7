# branchgate firmware entry point: bring the board up in order (config store, WAN, LAN port, IKE
# responder, ESP engine), then run the one event loop: select.poll over the sockets/ports with the
# responder's timers as the timeout. SIGINT (KeyboardInterrupt; `branchgate sim run` turns SIGTERM
# into SIGINT) is a graceful shutdown: DELETE to every peer, then exit 0.
import gc
import select
import sys

import cfgview
import log

ROOT = "."                   # the board's filesystem root (the sim board runs in its --root)
STATUS_FILE = "status.json"  # the device's view of its SAs, rewritten atomically on changes
RECOVER_MS = 100             # poll timeout after a failed iteration (no busy loop on a lasting fault)

_LOG = log.Logger("main")


class Board:
    def __init__(self, root=ROOT, status_file=STATUS_FILE):
        self.cfg = cfgview.load(root)
        gc.collect()  # the config store's code goes before the protocol code comes in
        log.set_level(self.cfg.log_level)
        from ike import responder
        from ipsec import sad as sad_mod
        from net import wan as wan_mod

        self.wan = wan_mod.Wan(self.cfg.wan.addr)
        self.sad = sad_mod.Sad()
        self.responder = responder.Responder(self.cfg, self.wan, self.sad, status_file)
        self.sad.on_event = self.responder.sad_event
        self.wan.on_ike = self.responder.input
        self.poller = select.poll()
        for s in self.wan.sockets():
            self.poller.register(s, select.POLLIN)
        _LOG.info("up: WAN %s, peers %s, heap free %d" % (
            self.cfg.wan.cidr, ", ".join([p.name for p in self.cfg.peers]), gc.mem_free()))

    def step(self, timeout):
        """One loop iteration: handle what is readable, run timers; returns the next poll timeout."""
        wan = self.wan
        events = self.poller.poll(timeout)
        try:
            for ev in events:
                obj = ev[0]
                if obj is wan.s500 or obj is wan.s4500:
                    wan.handle(obj)
            self.sad.tick()
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

    def run(self):
        timeout = 0
        try:
            while True:
                timeout = self.step(timeout)
        except KeyboardInterrupt:
            _LOG.info("shutting down")
            self.responder.shutdown()
            self.wan.close()
        return 0


def main():
    # Code before data: the board's root (the current directory) holds a "config" directory that
    # would otherwise shadow the config module as a namespace package.
    if "" in sys.path:
        sys.path.remove("")
        sys.path.append("")
    try:
        board = Board()
    except ValueError as e:  # config.ConfigError: not provisioned, damaged or invalid
        _LOG.error("cannot start: %s" % e)
        return 1
    return board.run()


if __name__ == "__main__":
    sys.exit(main())
