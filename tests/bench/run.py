"""`make bench`: run every tests/bench/bench_*.py `main()` in turn and print its figures.
Benchmarks print figures and ratios; they assert nothing about speed."""
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "shims"), str(HERE.parent.parent / "firmware")]

from mp import OVER_BUDGET_HEAP  # noqa: E402


def main(argv):
    only = set(argv)
    failed = 0
    if "BRANCHGATE_SIM_HEAP" not in os.environ:  # the benchmarks that run `branchgate sim run`
        os.environ["BRANCHGATE_SIM_HEAP"] = OVER_BUDGET_HEAP
        print("sim boards run at a %s heap (on this 64-bit micropython the firmware needs more than 112k: "
              "see bench heap, and heap32 for the ESP32's word size)"
              % OVER_BUDGET_HEAP, flush=True)
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem[len("bench_"):]
        if only and name not in only:
            continue
        print("== %s" % name, flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        t0 = time.monotonic()
        try:
            spec.loader.exec_module(mod)
            mod.main()
        except Exception:
            traceback.print_exc()
            failed += 1
        print("   (%.1f s)" % (time.monotonic() - t0), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
