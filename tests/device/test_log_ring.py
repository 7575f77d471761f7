# log.py's ring of recent lines (what `branchgate logs` fetches): text in one preallocated buffer,
# across its wrap-around, with lines overwritten once the buffer is full and long lines cut short.
import gc

import log


def capture(fn):
    lines = []
    log.set_output(lines.append)
    try:
        fn()
    finally:
        log.set_output(None)
    return lines


def test_ring_keeps_the_last_lines_across_wrap_around():
    lg = log.get("t")
    start, _ = log.recent()
    text = "x" * 90 + "é"  # ~100 bytes a line: the ring holds about 20 of them
    capture(lambda: [lg.info("%d %s", i, text) for i in range(100)])
    nxt, got = log.recent(start)
    assert nxt == start + 100
    assert 10 < len(got) < log.RING
    want = ["INFO t: %d %s" % (i, text) for i in range(100 - len(got), 100)]
    assert got == want
    assert log.recent(nxt - 3) == (nxt, want[-3:])


def test_long_lines_are_cut_at_a_character_boundary():
    lg = log.get("t")
    start, _ = log.recent()
    capture(lambda: lg.warn("é" * 2000))
    _, got = log.recent(start)
    assert len(got) == 1 and got[0].startswith("WARN t: éé") and len(got[0].encode()) <= log.RING_BYTES // 2


def test_keeping_a_line_leaves_nothing_behind():
    lg = log.get("t")
    capture(lambda: lg.info("warm up %d", 1))
    gc.collect()
    before = gc.mem_alloc()
    capture(lambda: [lg.info("line %d", i) for i in range(50)])
    gc.collect()
    assert gc.mem_alloc() - before < 64  # the ring's buffer is preallocated; lines are not kept as objects
