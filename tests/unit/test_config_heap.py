"""The config store as the board loads it: compiled to .mpy and run at the ESP32's heap budget (112k).
Prints the heap the modules and a loaded config take on the sim (64-bit objects; an ESP32's are
smaller), and guards against the store growing unnoticed."""
import subprocess

from branchgate import mpy, provision
from mp import FIRMWARE, MICROPYTHON

MODULES = ("config.py", "cfgview.py", "log.py", "crypto/__init__.py", "crypto/hmac.py", "ike/__init__.py", "ike/const.py",
           "ike/message.py", "ike/proposal.py", "ike/algos.py", "ike/names.py", "ike/words.py")
# Measured 2026-11 on the unix port: proposal ~12 KB, config ~24 KB once imported, ~12 KB more for a
# first load (JSON parse, a one-peer Config).
BUDGET = {"proposal": 16 * 1024, "config": 32 * 1024, "loaded": 16 * 1024}

CODE = """
import gc
def used():
    gc.collect()
    return gc.mem_alloc()
import ike.message, crypto.hmac, log, cfgview  # cfgview: loaded before config on the device too
base = used()
import ike.proposal
p = used()
import config
c = used()
cfg = config.load(%r)
print("proposal", p - base, "config", c - p, "loaded", used() - c, "free", gc.mem_free())
"""


def test_config_loads_within_the_board_heap(tmp_path):
    build = tmp_path / "mpy"
    for rel in MODULES:
        mpy.compile_file(FIRMWARE / rel, (build / rel).with_suffix(".mpy"))
    root = tmp_path / "root"
    settings = {"id": "gw1.example.net", "wan": {"addr": "192.0.2.2/24"}, "lan": {"addr": "10.20.1.1/24"},
                "peers": [{"name": "hq", "id": "hq.example.net", "remote_ts": ["10.0.0.0/16"]}]}
    provision.provision_root(root, settings, b"correct horse battery staple 42")
    # MICROPYPATH holds only the compiled tree: nothing can fall back to .py sources
    p = subprocess.run([MICROPYTHON, "-X", "heapsize=112k", "-c", CODE % str(root)],
                       env={"MICROPYPATH": str(build)}, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    words = p.stdout.split()
    figures = dict(zip(words[::2], map(int, words[1::2])))
    print("heap on the sim board (bytes):", figures)
    for name, limit in BUDGET.items():
        assert figures[name] < limit, (name, figures)
