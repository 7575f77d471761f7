# MicroPython side of bench_heap.py, run in a provisioned board root with the firmware's .mpy build
# (and nothing else) on MICROPYPATH:
#   micropython mp_heap.py imports MOD...  imports the modules in the order given (dependencies first),
#                                          printing "import MOD BYTES": the heap each one adds
#   micropython mp_heap.py board           brings the device up as main does (main.Board) and runs
#                                          its loop until SIGINT, printing "up BYTES" once and then
#                                          "live BYTES IKE_SAS CHILD_SAS" every 200 ms
# BYTES: gc.mem_alloc() after gc.collect(), i.e. what stays referenced.
import gc
import sys
import time


def used():
    gc.collect()
    return gc.mem_alloc()


def imports(names):
    before = used()
    for name in names:
        __import__(name)
        now = used()
        print("import", name, now - before)
        before = now
    print("total", before)


def board():
    if "" in sys.path:  # as main(): the root's config directory must not shadow the config module
        sys.path.remove("")
    import board as board_mod
    import main
    dev = main.Board(board_mod.open_board())
    print("up", used())
    t = time.ticks_ms()
    timeout = 0
    try:
        while True:
            timeout = dev.step(timeout)
            if time.ticks_diff(time.ticks_ms(), t) >= 200:
                t = time.ticks_ms()
                print("live", used(), len(dev.responder.sas), len(dev.sad.all()))
    except KeyboardInterrupt:
        pass


if sys.argv[1] == "imports":
    imports(sys.argv[2:])
else:
    board()
