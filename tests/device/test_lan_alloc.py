# The LAN gateway's packet paths allocate nothing in steady state: proved under
# micropython.heap_lock() (any allocation raises MemoryError) and measured with gc.mem_alloc().
HEAPSIZE = "112k"

import gc

import micropython

import lan_paths

N = 2000


def locked(run, n=N):
    run()                                   # first pass may warm up caches
    micropython.heap_lock()
    try:
        for _ in range(n):
            run()
    finally:
        micropython.heap_unlock()


def allocated_per_packet(run, n=N):
    run()
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(n):
            run()
        return (gc.mem_alloc() - before) / n
    finally:
        gc.enable()


def test_lan_to_tunnel_forward_allocates_nothing():
    fw, port = lan_paths.setup()
    locked(lan_paths.lan_to_tunnel(fw))
    assert fw.tunnel_out.n == N + 1 and fw.tunnel_out.last == 1400
    assert fw.counters["to_tunnel"] == N + 1


def test_mss_clamp_allocates_nothing():
    fw, port = lan_paths.setup()
    locked(lan_paths.syn_clamp(fw))
    assert fw.counters["mss_clamped"] == N + 1


def test_echo_reply_allocates_nothing():
    fw, port = lan_paths.setup()
    sends = port.sends
    locked(lan_paths.echo(fw))
    assert port.sends - sends == N + 1 and fw.counters["echo_replies"] == N + 1


def test_tunnel_to_lan_zero_copy_allocates_nothing():
    fw, port = lan_paths.setup()
    locked(lan_paths.tunnel_to_lan(fw))
    assert fw.counters["to_lan"] == N + 1 and port.last_len == 1414


def test_idle_poll_allocates_nothing():
    fw, port = lan_paths.setup()
    locked(lan_paths.idle_poll(fw))


def test_bytes_per_packet():
    fw, port = lan_paths.setup()
    cnt = fw.counters
    for run, counter in ((lan_paths.lan_to_tunnel(fw), "to_tunnel"), (lan_paths.tunnel_to_lan(fw), "to_lan"),
                         (lan_paths.echo(fw), "echo_replies"), (lan_paths.syn_clamp(fw), "mss_clamped")):
        before = cnt[counter]
        assert allocated_per_packet(run) == 0, counter
        assert cnt[counter] - before == N + 1, counter          # measured the path, not a drop
    # deliver() of a foreign memoryview copies it through one slice: one small object per packet.
    before = cnt["to_lan"]
    per = allocated_per_packet(lan_paths.tunnel_to_lan(fw, zero_copy=False))
    assert 0 < per <= 32 and cnt["to_lan"] - before == N + 1, per


def test_no_call_frame_on_the_heap():
    # MicroPython puts a function's call frame on the heap when it needs more than 11 words (locals,
    # stack, try blocks) and frees it on return: heap_lock() cannot see that (a locked heap sends it
    # to the C stack instead) nor gc.mem_alloc() (freed at once), but it costs an allocation and a free
    # per call. micropython.mem_total() counts every allocation (unix port, MICROPY_MEM_STATS): none.
    fw, port = lan_paths.setup()
    for run in (lan_paths.lan_to_tunnel(fw), lan_paths.tunnel_to_lan(fw), lan_paths.echo(fw),
                lan_paths.syn_clamp(fw)):
        run()
        before = micropython.mem_total()
        for _ in range(100):
            run()
        assert micropython.mem_total() == before
