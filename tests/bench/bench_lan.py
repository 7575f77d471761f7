"""The LAN gateway on the sim board's runtime (MicroPython unix port, 112 KB heap, firmware compiled to
.mpy): us per frame forwarded LAN -> tunnel and tunnel -> LAN (1400-byte and 64-byte packets), ICMP echo
reply and TCP SYN MSS clamp; bytes allocated per frame; the Internet checksum as bytecode vs viper.
Runs tests/bench/mp_lan.py (frames from tests/device/lan_paths.py)."""
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent / "host_tools")]

from branchgate.mpy import compile_tree  # noqa: E402
from mp import FIRMWARE, run_mp  # noqa: E402

HEAP = "112k"


def main():
    with tempfile.TemporaryDirectory() as build:
        compile_tree(FIRMWARE, build)
        p = run_mp([str(HERE / "mp_lan.py")], heap=HEAP, extra_path=[build])
    if p.returncode != 0:
        raise RuntimeError("mp_lan.py failed:\n%s%s" % (p.stdout, p.stderr))
    for line in p.stdout.splitlines():
        print(line + " [micropython, heap %s]" % HEAP)


if __name__ == "__main__":
    main()
