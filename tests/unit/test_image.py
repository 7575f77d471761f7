"""`branchgate image build`: the filesystem image is checked by the sim board's runtime itself, which
mounts it with vfs.VfsLfs2 on a RAM block device (as the ESP32 mounts its `vfs` partition), compares
every file against the manifest and imports the firmware from it."""
import hashlib
import json
import struct
import subprocess
import sys

import pytest
from esptool.targets import CHIP_DEFS

from branchgate import boards, image
from branchgate.cli import CliError
from mp import run_mp_code

QUIET = dict(log=lambda *a: None)

# Runs under MicroPython: mount IMAGE, check it against MANIFEST, then import from it only.
MOUNT_AND_IMPORT = r"""
import sys, vfs, hashlib, json

class RamBlockDevice:
    # The extended block protocol VfsLfs2 uses (readblocks/writeblocks with offset, ioctl).
    def __init__(self, data, block_size):
        self.data = data
        self.bs = block_size

    def readblocks(self, n, buf, off=0):
        start = n * self.bs + off
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, n, buf, off=0):
        start = n * self.bs + off
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.bs
        if op == 5:
            return self.bs
        if op == 6:
            return 0

manifest = json.load(open(%(manifest)r))
with open(%(image)r, "rb") as f:
    f.seek(%(fs_start)d)
    data = bytearray(f.read(manifest["filesystem"]["size"]))
bdev = RamBlockDevice(data, manifest["filesystem"]["block_size"])
vfs.mount(vfs.VfsLfs2(bdev), "/fw")
for e in manifest["files"]:
    with open("/fw/" + e["path"], "rb") as f:
        body = f.read()
    assert len(body) == e["size"], e["path"]
    digest = "".join("%%02x" %% b for b in hashlib.sha256(body).digest())
    assert digest == e["sha256"], e["path"]
sys.path[:] = ["/fw"]
%(imports)s
print("OK", len(manifest["files"]))
"""


def mount_and_import(out, imports, fs_start=0):
    manifest = image.manifest_path(out)
    code = MOUNT_AND_IMPORT % dict(manifest=str(manifest), image=str(out), fs_start=fs_start, imports=imports)
    return run_mp_code(code, heap="8m", timeout=60)


@pytest.fixture
def fake_firmware(tmp_path):
    """A firmware tree whose behaviour we know: a package with native code and a main.py."""
    fw = tmp_path / "fw"
    (fw / "pkg").mkdir(parents=True)
    (fw / "pkg" / "__init__.py").write_text("")
    (fw / "pkg" / "fast.py").write_text(
        "import micropython\n\n@micropython.native\ndef triple(x):\n    return 3 * x\n")
    (fw / "pkg" / "plain.py").write_text("ANSWER = 6 * 7\n")
    (fw / "main.py").write_text("print('main')\n")
    return fw


def test_sim_image_mounts_and_runs_native_code(tmp_path, fake_firmware):
    board = boards.load("sim")
    out = tmp_path / "sim.bin"
    manifest = image.build(board, out, firmware_dir=fake_firmware, **QUIET)
    assert out.stat().st_size == board.vfs_size == manifest["filesystem"]["block_count"] * 4096
    paths = [e["path"] for e in manifest["files"]]
    assert paths == ["board.json", "main.py", "pkg/__init__.mpy", "pkg/fast.mpy", "pkg/plain.mpy"]
    stdout = mount_and_import(out, "\n".join([
        "import pkg.fast, pkg.plain",
        "assert pkg.fast.triple(14) == 42 and pkg.plain.ANSWER == 42",
        "assert open('/fw/main.py').read() == \"print('main')\\n\"",
        "b = json.load(open('/fw/board.json'))",
        "assert b['name'] == 'sim' and 'sources' not in b, b",
    ]))
    assert stdout.strip() == "OK 5"


def test_firmware_modules_import_from_the_image(tmp_path):
    """The real firmware/, compiled for the sim board, imported from the mounted image; the values are
    checked against independent truth (IANA registry numbers, RFC 4231 HMAC vector)."""
    out = tmp_path / "sim.bin"
    manifest = image.build(boards.load("sim"), out, **QUIET)
    have = {e["path"] for e in manifest["files"]}
    checks = []
    if "ike/const.mpy" in have:
        checks += ["from ike import const", "assert const.PRF_HMAC_SHA2_256 == 5 and const.ENCR_AES_CBC == 12",
                   "assert const.__file__.startswith('/fw/')"]
    if "crypto/hmac.mpy" in have:
        checks += ["from crypto import hmac",
                   "mac = hmac.hmac_sha256(b'\\x0b' * 20, b'Hi There')",
                   "assert mac == bytes.fromhex('b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7')"]
    if not checks:
        pytest.skip("firmware/ has neither ike/const.py nor crypto/hmac.py yet")
    mount_and_import(out, "\n".join(checks))


def test_hardware_image_is_compiled_for_the_chip(tmp_path, fake_firmware):
    board = boards.load("wt32-eth01")
    out = tmp_path / "wt32.bin"
    image.build(board, out, firmware_dir=fake_firmware, **QUIET)
    # Bytecode-only modules load on any arch, so the unix port can still check the whole image...
    mount_and_import(out, "import pkg.plain\nassert pkg.plain.ANSWER == 42")
    # ...and the native one carries the Xtensa (windowed) arch in its .mpy header: 'M', 6, arch << 2 | sub.
    stdout = mount_and_import(out, "print(open('/fw/pkg/fast.mpy', 'rb').read(4))")
    header = eval(stdout.split()[0])
    assert header[0:2] == b"M\x06" and header[2] >> 2 == 10  # MP_NATIVE_ARCH_XTENSAWIN


def test_flash_size_sets_the_partition(tmp_path, fake_firmware):
    board = boards.load("wt32-eth01", flash_size="8MB")
    manifest = image.build(board, tmp_path / "w8.bin", firmware_dir=fake_firmware, **QUIET)
    assert manifest["filesystem"]["size"] == (8 << 20) - 0x200000
    assert json.loads((tmp_path / "w8.manifest.json").read_text())["flash_size"] == 8 << 20


def fake_base(chip, size=0x3000):
    """The start of a MicroPython merged .bin: an ESP image header (magic 0xE9, chip id at byte 12)."""
    header = bytes([0xE9, 3, 2, 0x20]) + bytes(8) + struct.pack("<H", CHIP_DEFS[chip].IMAGE_CHIP_ID)
    return header + bytes(range(256)) * ((size - len(header)) // 256) + b"\x5a" * ((size - len(header)) % 256)


def test_base_firmware_is_merged_at_the_chip_offsets(tmp_path, fake_firmware):
    board = boards.load("wt32-eth01")
    base = tmp_path / "micropython-esp32.bin"
    base.write_bytes(fake_base("esp32"))
    out = tmp_path / "merged.bin"
    manifest = image.build(board, out, base=base, firmware_dir=fake_firmware, **QUIET)
    data = out.read_bytes()
    assert manifest["image"]["offset"] == 0x1000 == CHIP_DEFS["esp32"].BOOTLOADER_FLASH_OFFSET
    assert len(data) == 0x200000 - 0x1000 + board.vfs_size
    fs = data[0x200000 - 0x1000:]
    assert hashlib.sha256(fs).hexdigest() == manifest["filesystem"]["sha256"]
    assert data[:0x3000] == base.read_bytes()  # flash mode/size kept as downloaded
    assert set(data[0x3000:0x200000 - 0x1000]) == {0xFF}
    mount_and_import(out, "import pkg.plain", fs_start=0x200000 - 0x1000)


def test_frozen_build_holds_only_the_board_definition_and_config(tmp_path, fake_firmware):
    """With the firmware frozen into the base (make firmware), .mpy files on the filesystem would shadow
    the frozen ones (sys.path has '' first), so only board.json and the config go there."""
    base = tmp_path / "custom.bin"
    base.write_bytes(fake_base("esp32"))
    root = tmp_path / "root"
    (root / "config").mkdir(parents=True)
    (root / "config" / "settings.json").write_text("{}")
    manifest = image.build(boards.load("wt32-eth01"), tmp_path / "f.bin", base=base, root=root, frozen=True,
                           firmware_dir=fake_firmware, **QUIET)
    assert [e["path"] for e in manifest["files"]] == ["board.json", "config/settings.json"]
    with pytest.raises(CliError, match="--frozen needs --base"):
        image.build(boards.load("wt32-eth01"), tmp_path / "g.bin", frozen=True, firmware_dir=fake_firmware, **QUIET)


def test_base_for_another_chip_is_refused(tmp_path):
    base = tmp_path / "s3.bin"
    base.write_bytes(fake_base("esp32s3"))
    with pytest.raises(CliError, match="built for esp32s3, board wt32-eth01 is esp32"):
        image.build(boards.load("wt32-eth01"), tmp_path / "x.bin", base=base, **QUIET)
    base.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(CliError, match="ESP image header"):
        image.build(boards.load("wt32-eth01"), tmp_path / "x.bin", base=base, **QUIET)


def test_base_older_than_the_native_mpy_abi_is_refused(tmp_path):
    base = tmp_path / "old.bin"
    old = fake_base("esp32")
    base.write_bytes(old + b"MicroPython v1.22.2 on 2024-02-22; Generic ESP32 module with ESP32\0")
    with pytest.raises(CliError, match=r"MicroPython v1.22: the firmware's native code \(.mpy 6.3\) needs v1.23"):
        image.build(boards.load("wt32-eth01"), tmp_path / "x.bin", base=base, **QUIET)
    base.write_bytes(old + b"MicroPython v1.27.0 on 2025-12-09; Generic ESP32 module with ESP32\0")
    image.build(boards.load("wt32-eth01"), tmp_path / "y.bin", base=base, **QUIET)


def test_base_too_large_is_refused(tmp_path):
    base = tmp_path / "big.bin"
    base.write_bytes(fake_base("esp32", size=0x200000))
    with pytest.raises(CliError, match="does not fit below the filesystem at 0x200000"):
        image.build(boards.load("wt32-eth01"), tmp_path / "x.bin", base=base, **QUIET)


def test_config_root_is_included_and_may_not_shadow_firmware(tmp_path, fake_firmware):
    root = tmp_path / "root"
    (root / "config").mkdir(parents=True)
    (root / "config" / "settings.json").write_text('{"id": "branch1"}')
    out = tmp_path / "sim.bin"
    image.build(boards.load("sim"), out, root=root, firmware_dir=fake_firmware, **QUIET)
    mount_and_import(out, "assert json.load(open('/fw/config/settings.json')) == {'id': 'branch1'}")
    (root / "main.py").write_text("evil = 1\n")
    with pytest.raises(CliError, match="main.py would replace a firmware file"):
        image.build(boards.load("sim"), out, root=root, firmware_dir=fake_firmware, **QUIET)


def test_provisioned_config_loads_on_the_board_from_the_image(tmp_path):
    """The deployment path: `branchgate provision --root`, then `image build --root`; the firmware's own
    config store, running from the mounted image, loads what CPython's copy of it reads from the root."""
    import config  # firmware/config.py under CPython (tests/conftest.py puts firmware/ on sys.path)

    root, psk = tmp_path / "root", tmp_path / "psk"
    psk.write_text("Zq8#vN2pL7xR4mT9wK3sY6bF1hJ5dG0c\n")
    p = subprocess.run([sys.executable, "-m", "branchgate.cli", "provision", "--root", str(root),
                        "--id", "branch1.example", "--peer-id", "hq.example", "--psk-file", str(psk),
                        "--wan", "192.0.2.2/24", "--remote-ts", "10.1.0.0/16"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    expected = config.load(str(root)).fingerprint
    out = tmp_path / "sim.bin"
    image.build(boards.load("sim"), out, root=root, **QUIET)
    mount_and_import(out, "import os\nos.chdir('/fw')\nimport config\nassert config.load('').fingerprint == %r"
                     % expected)


def test_directory_hiding_a_module_is_refused(tmp_path, fake_firmware):
    (fake_firmware / "util.py").write_text("X = 1\n")
    root = tmp_path / "root"
    (root / "util").mkdir(parents=True)
    (root / "util" / "data.json").write_text("{}")
    with pytest.raises(CliError, match="directory util/ would hide module util.mpy on the board"):
        image.build(boards.load("sim"), tmp_path / "x.bin", root=root, firmware_dir=fake_firmware, **QUIET)
    # The rule it enforces, seen on the sim board's runtime: util/ next to util.py hides util.py.
    pair = tmp_path / "pair"
    (pair / "util").mkdir(parents=True)
    (pair / "util.py").write_text("X = 1\n")
    with pytest.raises(AssertionError, match="AttributeError"):
        run_mp_code("import os, sys\nos.chdir(%r)\nsys.path[:] = ['']\nimport util\nutil.X" % str(pair))


def test_full_filesystem_is_a_clear_error(tmp_path, fake_firmware):
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(bytes(3 << 20))
    with pytest.raises(CliError, match="filesystem of 2048 KiB is full at big.bin"):
        image.build(boards.load("sim"), tmp_path / "x.bin", root=root, firmware_dir=fake_firmware, **QUIET)
