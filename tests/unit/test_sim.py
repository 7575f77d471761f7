"""`branchgate sim run` (host_tools/branchgate/sim.py): compiles the firmware to .mpy, runs it on the
MicroPython unix port with the requested heap in the board's root, and turns SIGTERM into the
firmware's graceful stop (a byte on its stop line, SIGINT as the fallback), returning the firmware's exit
code."""
import os
import signal
import subprocess
import sys
import time

import pytest

from branchgate import cli, paths, sim

# A stand-in firmware: reports its heap, module origin and cwd, then waits for the stop line like main.py
# (or for SIGINT, if told to ignore the line: the runner's fallback for a firmware still coming up).
FAKE_MAIN = '''
import gc, os, select, sys
import helper
try:
    gc.collect()
    print("heap", gc.mem_alloc() + gc.mem_free(), "name", __name__, "cwd", os.getcwd(), "helper", helper.__file__)
    p = select.poll()
    if "deaf" not in os.listdir():
        p.register(int(os.getenv("BRANCHGATE_STOP_FD")), select.POLLIN)
    while not p.poll(20):
        pass
    print("stop line")
except KeyboardInterrupt:
    print("SIGINT")
sys.exit(int(open("rc").read()) if "rc" in os.listdir() else 0)
'''


@pytest.fixture
def fake_firmware(tmp_path, monkeypatch):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text(FAKE_MAIN)
    (fw / "helper.py").write_text("X = 1\n")
    monkeypatch.setattr(paths, "FIRMWARE", fw)
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    root = tmp_path / "root"
    root.mkdir()
    return fw, root


def run_cli(fw, build, root, sig, *extra, rc_file=None):
    env = dict(os.environ)
    env.pop(sim.HEAP_ENV, None)
    # The parser is built first: other commands' modules find the real firmware when they load.
    code = ("import sys; from pathlib import Path; from branchgate import cli, paths; "
            "args = cli.build_parser().parse_args(sys.argv[3:]); "
            "paths.FIRMWARE = Path(sys.argv[1]); paths.BUILD = Path(sys.argv[2]); "
            "sys.exit(args.func(args) or 0)")
    p = subprocess.Popen([sys.executable, "-c", code, str(fw), str(build), "sim", "run", "--root", str(root), *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = ""
    deadline = time.monotonic() + 30
    while "heap" not in out:
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
        out += p.stdout.readline()
    p.send_signal(sig)
    rest, err = p.communicate(timeout=30)
    return p.returncode, out + rest, err


def test_default_heap_is_esp32_budget_and_sigterm_is_graceful(fake_firmware, tmp_path):
    fw, root = fake_firmware
    rc, out, err = run_cli(fw, tmp_path / "build", root, signal.SIGTERM)
    assert rc == 0, err
    words = out.split()
    assert 110 * 1024 < int(words[1]) <= 112 * 1024  # GC total: the heap less its block table
    assert words[3] == "__main__" and words[5] == str(root)
    # Compiled, not source, and found through root/lib as a chip keeps its modules in /lib: each
    # module's path is interned when it loads, so it should not be the build's absolute path.
    assert words[7] == "lib/helper.mpy"
    assert "stop line" in out and "SIGINT" not in out
    assert "this micropython is 64-bit" in err and "needs ~160k" in err  # said, while it is true


def test_heap_option_sigint_and_exit_code_passed_through(fake_firmware, tmp_path):
    fw, root = fake_firmware
    (root / "rc").write_text("3")
    rc, out, err = run_cli(fw, tmp_path / "build", root, signal.SIGINT, "--heap", "256k")
    assert 250 * 1024 < int(out.split()[1]) <= 256 * 1024
    assert "stop line" in out and rc == 3
    assert "does not fit" not in err


def test_firmware_not_reading_its_stop_line_gets_sigint(fake_firmware, tmp_path):
    fw, root = fake_firmware
    (root / "deaf").write_text("")  # as a firmware still coming up
    t = time.monotonic()
    rc, out, err = run_cli(fw, tmp_path / "build", root, signal.SIGTERM)
    assert rc == 0 and "SIGINT" in out and "stop line" not in out
    assert time.monotonic() - t >= sim.STOP_GRACE_S


def test_module_path_link_follows_the_build_and_spares_a_real_lib(tmp_path):
    a, b, root = tmp_path / "a", tmp_path / "b", tmp_path / "root"
    for d in (a, b, root):
        d.mkdir()
    assert sim.micropypath(root, a) == sim.LIB and (root / sim.LIB).resolve() == a.resolve()
    assert sim.micropypath(root, a) == sim.LIB  # found as it is
    assert sim.micropypath(root, b) == sim.LIB and (root / sim.LIB).resolve() == b.resolve()
    (root / sim.LIB).unlink()
    (root / sim.LIB).mkdir()  # the root's own directory: left alone, the build found by its own path
    assert sim.micropypath(root, a) == str(a.resolve())
    assert (root / sim.LIB).is_dir() and not (root / sim.LIB).is_symlink()


def test_build_is_reused_and_follows_sources(fake_firmware, tmp_path):
    fw, root = fake_firmware
    a = sim.build_firmware(fw, tmp_path / "b")
    assert (a / "main.mpy").exists() and (a / "helper.mpy").exists()
    assert sim.build_firmware(fw, tmp_path / "b") == a
    (fw / "helper.py").write_text("X = 2\n")
    assert sim.build_firmware(fw, tmp_path / "b") != a


def test_syntax_error_is_one_line(fake_firmware, tmp_path):
    fw, root = fake_firmware
    (fw / "helper.py").write_text("def broken(:\n")
    with pytest.raises(cli.CliError) as e:
        sim.build_firmware(fw, tmp_path / "b")
    assert "helper.py" in str(e.value)


def test_root_must_exist(tmp_path):
    rc = cli.main(["sim", "run", "--root", str(tmp_path / "nope")])
    assert rc == 1


def test_bad_heap_rejected(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["sim", "run", "--root", str(tmp_path), "--heap", "lots"])


def test_real_firmware_compiles():
    assert (sim.build_firmware() / "main.mpy").exists()
