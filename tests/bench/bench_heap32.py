"""bench_heap's figures at the ESP32's word size: the same benchmark with tests/mp32.py's 32-bit
MicroPython (Debian's i386 unix port) as the sim board, the firmware compiled for x86. Figures only."""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import mp32  # noqa: E402


def main():
    try:
        exe = mp32.micropython32()
    except mp32.Unavailable as e:
        print("heap32: skipped (%s)" % e)
        return
    print("32-bit MicroPython from Debian: %s" % ", ".join(mp32.version()), flush=True)
    code = "import sys; sys.path.insert(0, %r); import bench_heap; bench_heap.main()" % str(HERE)
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ, BRANCHGATE_MICROPYTHON=exe), check=True)
