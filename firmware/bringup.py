# Bringing the board up (main.Board), and the boot's decisions before it: the crash count, safe mode
# (the provisioning console only) for a crash loop, the button or a config that does not load. Only
# coming up needs this code: main loads it for that and lets it go, with the modules only it uses
# (BOOT_ONLY), before the loop starts. (Not "boot.py": MicroPython runs a module of that name at reset.)
import gc
import select
import sys

from micropython import const

import board
import cfgview
import health
import log

_BRINGUP_GC_BYTES = const(4096)  # gc.threshold while coming up (see bring_up)
_IKE_GC_BYTES = const(4096)      # and while the IKE side runs, on a short heap (main.Board.ike_input)
_SHORT_BYTES = const(98304)      # short: less free than this once up (the chip's: ~40 KB)
# Modules only coming up needs (retries, the board's platform): they leave the heap once it is up,
# ~3 KB of a chip's (board_esp32.py) and are loaded again for what needs them later (a shutdown, the
# console's restart, the crash counter's reset).
BOOT_ONLY = ("bringup", "recovery", "board_sim", "board_esp32")

_LOG = log.Logger("main")


def bring_up(dev, hw, root, status_file):
    """Make main.Board dev ready to run on platform hw: config, watchdog, WAN, responder, SAD, data
    plane, poller."""
    # Collect every few KB while coming up: what is loaded for good then fills the holes the config
    # store and the imports leave, not fresh heap above them. Without it the long-lived objects end
    # up strewn among those holes, and a buffer of a few KB finds no room in a heap that has plenty
    # (the sim board, 4 peers: up in 117k heap with it, 130k without).
    gc.threshold(_BRINGUP_GC_BYTES)
    dev.cfg = cfgview.load(root)
    # Started once there is a tunnel to run: it cannot be stopped, and safe mode has no loop.
    dev.wdt = wdt = hw.watchdog()
    gc.collect()  # the config store's code goes before the protocol code comes in
    log.set_level(dev.cfg.log_level)
    import recovery
    from ike import responder
    from ipsec import sad as sad_mod
    from net import wan as wan_mod

    cfg_wan = dev.cfg.wan
    # The address may not be up yet (link down, DHCP, a namespace being built): retry.
    dev.wan = recovery.retry(lambda: wan_mod.Wan(hw.wan_up(cfg_wan), rcvbuf=hw.wan_rcvbuf),
                              "WAN %s (is the address on an interface?)" % cfg_wan.cidr, wdt)
    dev.sad = sad_mod.Sad()
    dev.responder = responder.Responder(dev.cfg, dev.wan, dev.sad, status_file)
    dev.sad.on_event = dev.responder.sad_event
    dev.wan.on_ike = dev.ike_input
    import dataplane
    lan = dev.cfg.lan
    port = recovery.retry(lambda: hw.lan_port(lan), "LAN port (interface present?)", wdt)
    dev.dp = dataplane.DataPlane(dev.cfg, dev.wan, dev.sad, port)
    dev.responder.dataplane = dev.dp  # its counters go into the status view
    for name in BOOT_ONLY:  # nothing running holds their code (the watchdog has a module of its own)
        sys.modules.pop(name, None)
    # Up: the packet path collects only when the heap runs out (its garbage is short-lived, and a
    # collection every few packets would halve the throughput); the IKE side, on a short heap,
    # more often.
    gc.threshold(-1)
    gc.collect()
    dev.ike_gc = _IKE_GC_BYTES if gc.mem_free() < _SHORT_BYTES else -1
    dev.poller = select.poll()
    for s in dev.wan.sockets():
        dev.poller.register(s, select.POLLIN)
    dev.dp.register(dev.poller, select.POLLIN)
    dev.console = None  # provision.Console: loaded when the first byte arrives on the console
    dev.poller.register(sys.stdin, select.POLLIN)
    dev.stop_fd = hw.stop_fd()
    if dev.stop_fd is not None:
        dev.poller.register(dev.stop_fd, select.POLLIN)
    _LOG.info("up: WAN %s, peers %s, heap free %d" % (
        dev.cfg.wan.cidr, ", ".join([p.name for p in dev.cfg.peers]), gc.mem_free()))


def start(board_class, root):
    """The boot's decisions, then a running board_class (main.Board) up; or, when the boot ends in
    safe mode, the provisioning console's exit code once it is done."""
    import recovery
    cause = board.reset_cause()
    crashes = recovery.boot(cause)
    health.booted(cause, crashes)
    _LOG.info("boot: reset cause %s, %d crashes in a row before" % (cause, crashes))
    if crashes >= recovery.CRASH_LIMIT:
        return safe_mode(None, root, "%d crashes in a row" % crashes)
    hw = board.open_board()
    health.board(hw.name)
    if hw.button_held():
        return safe_mode(hw, root, "button held at boot")
    try:
        dev = board_class(hw, root)
    except ValueError as e:  # config.ConfigError: not provisioned, damaged or invalid
        _LOG.error("cannot start: %s" % e)
        return safe_mode(hw, root, "no valid configuration")
    health.running(dev)
    return dev


def safe_mode(hw, root, why):
    """The provisioning console only: no WAN sockets, no tunnel, no watchdog. Clears the crash
    counter, so the next reset (after the user fixed what was wrong) tries a normal boot."""
    import recovery
    recovery.healthy()
    health.safe_mode(why)
    _LOG.warn("safe mode (%s): the tunnel stays down, provisioning console only" % why)
    if hw is not None:
        hw.led(True)
    import provision
    return provision.serve(root, why, hw.stop_fd() if hw is not None else None)
