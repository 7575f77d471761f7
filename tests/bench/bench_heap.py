"""The heap budget (issue 6) on the sim board: the firmware compiled to .mpy as `branchgate sim run` loads
it (bytecode in RAM, the stock-MicroPython path), against the ESP32's 112 KB of Python heap.

Prints, per firmware module, its .mpy size and the heap it takes once imported (dependencies imported
first, so each figure is the module's own); the heap with everything imported; the heap the device
holds once up (main.Board) and with 4 IKE SAs x 2 CHILD SAs established (tests/bench/mp_heap.py); and
the peak, measured as the smallest heap at which the budget scenario (tests/simrig.py budget_run: bring
up 4 x 2 SAs, an hour of head-office rekeys compressed, echo traffic through every CHILD SA) passes
without a memory complaint. The sim's micropython is the venv's, a 64-bit build (objects and pointers
about twice an ESP32's, bytecode the same size), unless $BRANCHGATE_MICROPYTHON names another, e.g. a
32-bit build for the ESP32's word size; the first line printed says which. A module's import figure
includes any growth of the interned-string pool its names set off (the pool grows in doubling chunks,
charged to whichever import needs it).
Figures only; nothing is asserted."""
import ast
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "shims"), str(HERE.parent.parent / "firmware"),
                str(HERE.parent.parent / "host_tools")]

import simrig  # noqa: E402
from branchgate import sim  # noqa: E402
from mp import FIRMWARE, MICROPYTHON  # noqa: E402

BUDGET_KB = 112
STEADY_AIM_KB = 80  # one tunnel up, steady state: the headroom the budget needs for handshakes and bursts
SEARCH_KB = (96, 1024, 4)  # smallest heap for the scenario: searched above the first, to this step (runs vary by ~4 KB)


def module_name(path):
    rel = path.relative_to(FIRMWARE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def dependency_order():
    """Every firmware module, each after the firmware modules it imports at its top level."""
    deps = {}
    for f in sorted(FIRMWARE.rglob("*.py")):
        name = module_name(f)
        if name == "main":
            continue  # its import runs nothing, but keep it out: main is measured as the device
        wants = set()
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.Import):
                wants.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                wants.add(node.module)
                wants.update(node.module + "." + a.name for a in node.names)
        deps[name] = wants
    order = []

    def visit(name, stack=()):
        if name in order or name not in deps or name in stack:
            return
        if "." in name:
            visit(name.rsplit(".", 1)[0], stack + (name,))
        for d in sorted(deps[name]):
            visit(d, stack + (name,))
        order.append(name)

    for name in sorted(deps):
        visit(name)
    return order


def mpy_sizes(build):
    out = {}
    for f in build.rglob("*.mpy"):
        rel = f.relative_to(build).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = f.stat().st_size
    return out


def run_mp(build, args, root, timeout=120):
    return subprocess.run([MICROPYTHON, "-X", "heapsize=4m", str(HERE / "mp_heap.py"), *args], cwd=str(root),
                          env=dict(os.environ, MICROPYPATH=sim.micropypath(root, build)), capture_output=True, text=True,
                          timeout=timeout)


def pointer_bytes():
    """8 for the venv's micropython, 4 for a 32-bit build (GC blocks are 4 pointers)."""
    p = subprocess.run([MICROPYTHON, "-c", "import sys; print(8 if sys.maxsize >> 32 else 4)"], capture_output=True,
                       text=True, timeout=30)
    return int(p.stdout)


def import_costs(build, root):
    p = run_mp(build, ["imports"] + dependency_order(), root)
    if p.returncode:
        raise RuntimeError(p.stdout + p.stderr)
    costs = {}
    total = 0
    for line in p.stdout.splitlines():
        w = line.split()
        if w[0] == "import":
            costs[w[1]] = int(w[2])
        elif w[0] == "total":
            total = int(w[1])
    return costs, total


def live_heap(build, root, wan):
    """(heap once up, heap with 4 x 2 SAs) of the device as main brings it up."""
    log = root / "mp_heap.log"
    with open(log, "w") as out:
        p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=4m", str(HERE / "mp_heap.py"), "board"], cwd=str(root),
                             env=dict(os.environ, MICROPYPATH=sim.micropypath(root, build)), stdin=subprocess.PIPE, stdout=out,
                             stderr=subprocess.STDOUT)
    hqs = []
    try:
        deadline = time.monotonic() + 30
        while "up " not in log.read_text():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text())
            time.sleep(0.05)
        hqs = [simrig.HeadOffice(k, wan) for k in range(4)]
        hqs[0].establish()  # one tunnel (IKE SA + its first CHILD SA) with traffic: the usual steady state
        hqs[0].ping(0, 3)
        time.sleep(0.6)  # "live" samples with that one tunnel
        for h in hqs[1:]:
            h.establish()
        for h in hqs:
            h.add_child()
        time.sleep(0.6)  # a few "live" samples with everything established
    finally:
        for h in hqs:
            h.close()
        p.send_signal(signal.SIGINT)
        p.wait(30)
    up = one = live = None
    one_done = False  # "one": the last sample of the first run of samples with exactly one IKE SA
    for line in log.read_text().splitlines():
        w = line.split()
        if w and w[0] == "up":
            up = int(w[1])
        elif w and w[0] == "live":
            if w[2] == "1" and not one_done:
                one = int(w[1])
            elif one is not None:
                one_done = True
            if w[2:] == ["4", "8"]:
                live = int(w[1])
    return up, one, live


def smallest_heap(build, timeline=None):
    """Smallest heap (KB, to SEARCH_KB's step) at which budget_run passes, and that run's figures; None
    if it fails even at the top of the range."""
    lo, hi, step = SEARCH_KB
    best = simrig.budget_run("%dk" % hi, build=build, timeline=timeline)
    if not best["ok"]:
        return None, best
    best_kb = hi
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        r = simrig.budget_run("%dk" % mid, build=build, timeline=timeline)
        if r["ok"]:
            hi, best_kb, best = mid, mid, r
        else:
            lo = mid
    return best_kb, best


def main():
    why = simrig.missing()
    if why:
        print("heap: skipped (%s)" % why)
        return
    build = sim.build_firmware()
    tmp = tempfile.TemporaryDirectory(prefix="bg-bench-heap-")  # removed when main() returns
    work = Path(tmp.name)
    wan = simrig.wan_ip(salt=11)
    simrig.provision(work, wan, peers=4, limits={"max_ike_sas": 8, "max_child_sas": 16})
    sizes = mpy_sizes(build)
    costs, total = import_costs(build, work)
    ptr = pointer_bytes()
    print("micropython: %s (%d-bit: %d-byte pointers, %d-byte GC blocks)" % (MICROPYTHON, ptr * 8, ptr, ptr * 4))
    print("per module: .mpy bytes (code size), heap bytes once imported (%d-bit sim)" % (ptr * 8))
    for name in sorted(costs, key=lambda n: -costs[n]):
        print("  %-20s mpy %6d  heap %6d" % (name, sizes.get(name, 0), costs[name]))
    print("code size: %d bytes of .mpy in %d modules" % (sum(sizes.values()), len(sizes)))
    print("heap after import of everything: %.1f KB (ratio %.2f of the %d KB budget)"
          % (total / 1024, total / 1024 / BUDGET_KB, BUDGET_KB))
    up, one, live = live_heap(build, work, wan)
    print("heap held once up (main.Board, no SA): %.1f KB (ratio %.2f of the budget)"
          % (up / 1024, up / 1024 / BUDGET_KB))
    if one is not None:
        print("heap held with one tunnel (1 IKE SA + 1 CHILD SA, after pings; steady state): %.1f KB (ratio %.2f of "
              "the budget; aim %d KB)" % (one / 1024, one / 1024 / BUDGET_KB, STEADY_AIM_KB))
    if live is not None:
        print("heap held with 4 IKE SAs x 2 CHILD SAs: %.1f KB (ratio %.2f; %.1f KB per CHILD SA incl. its share of "
              "the IKE SA)" % (live / 1024, live / 1024 / BUDGET_KB, (live - up) / 8 / 1024))
    kb, r = smallest_heap(build, simrig.Timeline(minutes=0))
    if kb is None:
        print("peak heap during handshakes: over %d KB (%s)" % (SEARCH_KB[1], r["why"]))
    else:
        print("peak heap during handshakes (smallest -X heapsize bringing up 4 x 2 SAs and pinging through "
              "them): %d KB (ratio %.2f of the %d KB budget)" % (kb, kb / BUDGET_KB, BUDGET_KB))
    kb, r = smallest_heap(build)
    if kb is None:
        print("peak heap (budget scenario): over %d KB (%s)" % (SEARCH_KB[1], r["why"]))
        return
    print("peak heap over an hour of rekeys (smallest -X heapsize passing the budget scenario): %d KB (ratio %.2f "
          "of the %d KB budget; %d exchanges, %d CHILD and %d IKE rekeys, %d echo replies)"
          % (kb, kb / BUDGET_KB, BUDGET_KB, r["exchanges"], r["child_rekeys"], r["ike_rekeys"], r["pings_answered"]))


if __name__ == "__main__":
    main()
