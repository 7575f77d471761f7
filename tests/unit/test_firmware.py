"""MicroPython board definitions for custom firmware: CI has no ESP-IDF, so this checks what can be checked
without it: every manifest names only files that exist, freezes all of firmware/, and every frozen module
compiles with mpy-cross for the chip's arch; the board files carry the required options; `make firmware`
names exactly what is missing."""
import os
import re
import stat
import subprocess

import pytest

from branchgate import boards, firmware, paths
from branchgate.cli import CliError

HARDWARE = [n for n in boards.names() if not boards.load(n).is_sim]
BOARD_FILES = ("mpconfigboard.cmake", "mpconfigboard.h", "sdkconfig.board", "manifest.py",
               "mpconfigvariant_PRODUCTION.cmake")
CHIP_CMAKE = {"esp32": "mpconfigboard_esp32_common.cmake", "esp32p4": "mpconfigboard_esp32p4_common.cmake",
              "esp32s3": "mpconfigboard_esp32s3_common.cmake", "esp32c3": "mpconfigboard_esp32c3_common.cmake",
              "esp32c6": "mpconfigboard_esp32c6_common.cmake"}
MPY_ARCH_NUMBER = {"xtensawin": 10, "rv32imc": 11}


def firmware_sources():
    return {p.relative_to(paths.FIRMWARE).as_posix() for p in paths.FIRMWARE.rglob("*.py")}


@pytest.mark.parametrize("name", HARDWARE)
def test_board_files_are_complete(name):
    bdir = firmware.board_dir(name)
    assert [f for f in BOARD_FILES if not (bdir / f).is_file()] == []
    board = boards.load(name)
    sdkconfig = (bdir / "sdkconfig.board").read_text().splitlines()
    assert "CONFIG_MBEDTLS_HARDWARE_AES=y" in sdkconfig and "CONFIG_MBEDTLS_HARDWARE_SHA=y" in sdkconfig
    assert "CONFIG_ESPTOOLPY_FLASHSIZE_%s=y" % board.data["flash"]["size"] in sdkconfig
    assert re.search(r"^#define MICROPY_PY_CRYPTOLIB_CTR \(1\)$", (bdir / "mpconfigboard.h").read_text(), re.M)
    assert "include(boards/%s)" % CHIP_CMAKE[board.chip] in (bdir / "mpconfigboard.cmake").read_text()


@pytest.mark.parametrize("variant", [None, "PRODUCTION"])
@pytest.mark.parametrize("name", HARDWARE)
def test_manifest_freezes_all_of_firmware_from_existing_files(name, variant):
    frozen = firmware.evaluate(firmware.manifest_for(name, variant), firmware.board_dir(name))
    assert all(src.is_file() for src, _ in frozen.files)
    names = {n for _, n in frozen.files}
    assert firmware_sources() <= names  # all of firmware/ runs from flash
    assert frozen.tree_paths == ["$(PORT_DIR)/modules"]  # _boot.py etc. from MicroPython's port
    assert ("boot.py" in names) == (variant == "PRODUCTION")


@pytest.mark.parametrize("arch", sorted({boards.load(n).arch for n in HARDWARE}))
def test_frozen_modules_compile_for_the_chip_arch(tmp_path, arch):
    files = set()
    for name in (n for n in HARDWARE if boards.load(n).arch == arch):
        files.update(firmware.evaluate(firmware.manifest_for(name, "PRODUCTION"), firmware.board_dir(name)).files)
    firmware.compile_all(sorted(files), tmp_path, arch)
    compiled = list(tmp_path.rglob("*.mpy"))
    assert len(compiled) == len(files)
    for mpy_file in compiled:
        header = mpy_file.read_bytes()[:4]
        assert header[:2] == b"M\x06" and header[2] >> 2 in (0, MPY_ARCH_NUMBER[arch]), mpy_file  # 0: bytecode


def test_production_boot_disables_ctrl_c():
    boot = (paths.BOARDS / "micropython-common" / "production" / "boot.py").read_text()
    assert re.search(r"^micropython\.kbd_intr\(-1\)$", boot, re.M)


def test_manifest_naming_a_missing_file_is_caught(tmp_path):
    (tmp_path / "manifest.py").write_text('module("nope.py")\n')
    with pytest.raises(firmware.ManifestError, match="names .*nope.py, which does not exist"):
        firmware.evaluate(tmp_path / "manifest.py", tmp_path)
    (tmp_path / "manifest.py").write_text('freeze("../missing-dir")\n')
    with pytest.raises(firmware.ManifestError, match="freeze\\(\\) directory .* does not exist"):
        firmware.evaluate(tmp_path / "manifest.py", tmp_path)


def test_port_modules_are_followed_into_a_micropython_tree(tmp_path):
    modules = tmp_path / "micropython" / "ports" / "esp32" / "modules"
    modules.mkdir(parents=True)
    (modules / "_boot.py").write_text("import gc\n")
    frozen = firmware.evaluate(firmware.manifest_for("wt32-eth01"), firmware.board_dir("wt32-eth01"),
                               micropy_dir=tmp_path / "micropython")
    assert ("_boot.py" in {n for _, n in frozen.files}) and frozen.tree_paths == []


def test_missing_prerequisites_are_named_exactly(tmp_path):
    assert firmware.missing_prerequisites({"PATH": "/usr/bin"}) == [
        "ESP-IDF: IDF_PATH is not set (install ESP-IDF v5.2-v5.5 and run `. $IDF_PATH/export.sh`)",
        "MicroPython source: MICROPY_DIR is not set (git clone https://github.com/micropython/micropython, "
        "then `make -C ports/esp32 submodules`)"]
    idf, mp = fake_idf(tmp_path), tmp_path / "micropython"
    (mp / "ports" / "esp32").mkdir(parents=True)
    (mp / "ports" / "esp32" / "Makefile").write_text("")
    env = {"PATH": "/usr/bin", "IDF_PATH": str(idf), "MICROPY_DIR": str(mp)}
    assert firmware.missing_prerequisites(env) == [
        "ESP-IDF environment: idf.py is not on PATH (run `. %s/export.sh`)" % idf,
        "MicroPython's mpy-cross: run `make -C %s/mpy-cross`" % mp]


def fake_idf(tmp_path):
    idf = tmp_path / "esp-idf"
    (idf / "tools").mkdir(parents=True)
    executable(idf / "tools" / "idf.py", "#!/bin/sh\n")
    return idf


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_build_runs_the_esp32_port_on_the_board_definition(tmp_path, monkeypatch):
    """With (fake) ESP-IDF and MicroPython present, build runs the port's make with this board's directory
    and variant, and reports the firmware.bin it produced."""
    monkeypatch.setattr(paths, "BUILD", tmp_path / "build")
    idf, mp, bin_dir = fake_idf(tmp_path), tmp_path / "micropython", tmp_path / "bin"
    (mp / "ports" / "esp32").mkdir(parents=True)
    (mp / "ports" / "esp32" / "Makefile").write_text("")
    (mp / "mpy-cross" / "build").mkdir(parents=True)
    (mp / "mpy-cross" / "build" / "mpy-cross").write_text("")
    bin_dir.mkdir()
    executable(bin_dir / "idf.py", "#!/bin/sh\n")
    # A stand-in for make: records its arguments and leaves a firmware.bin in BUILD=.
    executable(bin_dir / "make", '#!/bin/sh\necho "$@" > "%s/make-args"\nfor a; do case "$a" in BUILD=*) '
                                 'mkdir -p "${a#BUILD=}" && echo fw > "${a#BUILD=}/firmware.bin";; esac; done\n'
               % tmp_path)
    env = {"PATH": "%s:/usr/bin:/bin" % bin_dir, "IDF_PATH": str(idf), "MICROPY_DIR": str(mp)}
    out = firmware.build("wt32-eth01", "PRODUCTION", env=env)
    assert out == tmp_path / "build" / "firmware" / "wt32-eth01-production" / "firmware.bin" and out.is_file()
    args = (tmp_path / "make-args").read_text().split()
    assert args[:2] == ["-C", str(mp / "ports" / "esp32")]
    assert "BOARD_DIR=%s" % firmware.board_dir("wt32-eth01") in args and "BOARD_VARIANT=PRODUCTION" in args


def test_sim_board_has_no_firmware():
    with pytest.raises(CliError, match="the sim board runs the unix port"):
        firmware.build("sim", env={})


def test_make_firmware_explains_what_is_missing():
    env = {k: v for k, v in os.environ.items() if k not in ("IDF_PATH", "MICROPY_DIR")}
    # -o: do not remake the venv stamp (make test already has the venv).
    p = subprocess.run(["make", "-s", "-o", ".venv/.installed", "firmware", "BOARD=wt32-eth01"],
                       cwd=paths.REPO, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert ("branchgate: error: cannot build firmware for wt32-eth01: missing ESP-IDF: IDF_PATH is not set"
            in p.stderr), p.stderr
    assert "MICROPY_DIR is not set" in p.stderr
