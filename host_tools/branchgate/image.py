"""`branchgate image build`: the flash image for a board.

firmware/ is compiled to .mpy for the board's architecture (main.py stays source: MicroPython runs it
only as .py), the board definition goes in as /board.json, and everything is packed into a littlefs2
image exactly the size of the board's `vfs` partition (MicroPython mounts it only when the block count
equals the partition size / 4096). With --base, a stock MicroPython .bin for the chip is merged in front
of it at the chip's firmware offset (esptool merge_bin), giving one image flashed at that offset.
A manifest next to the image records the files, sizes, sha256 sums, version, board and offsets; `branchgate
flash` reads it.
"""
import hashlib
import json
import re
import shutil
import struct
import tempfile
from pathlib import Path

import littlefs
from esptool import cmds as esptool_cmds
from esptool.targets import CHIP_DEFS

from . import __version__, boards, mpy, paths
from .cli import CliError

FS_BLOCK = boards.FS_BLOCK
FS_IO_SIZE = 32           # read/prog/lookahead sizes of MicroPython's VfsLfs2
LFS_DISK_VERSION = 0x00020000  # littlefs on-disk 2.0: every MicroPython with VfsLfs2 reads it
ESP_IMAGE_MAGIC = 0xE9
BOARD_FILE = "board.json"
# The firmware's viper code compiles to native code in the .mpy files, which a MicroPython loads only
# if its native .mpy sub-version matches: 6.3, from v1.23 on (docs: reference/mpyfiles).
NATIVE_MPY_SINCE = (1, 23)
_BANNER = re.compile(rb"MicroPython v(\d+)\.(\d+)")


def default_output(board_name):
    return paths.BUILD / "images" / (board_name + ".bin")


def manifest_path(image):
    image = Path(image)
    return image.with_name(image.stem + ".manifest.json")


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def source_digest(firmware_dir):
    """sha256 over the firmware sources (paths and contents): identifies exactly what was built."""
    h = hashlib.sha256()
    for src in sorted(Path(firmware_dir).rglob("*.py")):
        h.update(src.relative_to(firmware_dir).as_posix().encode() + b"\0" + src.read_bytes())
    return h.hexdigest()


def stage(board, out_dir, firmware_dir=None, root=None, frozen=False, log=print):
    """Write the filesystem contents into out_dir: compiled firmware (unless it is frozen into the base),
    /board.json, and the files of a provisioned config root. Returns the sorted relative paths."""
    firmware_dir = Path(firmware_dir or paths.FIRMWARE)
    out_dir = Path(out_dir)
    written = set()
    if not frozen:
        log("compiling %s for %s (mpy-cross -march=%s)" % (firmware_dir, board.chip, board.arch))
        try:
            written.update(p.as_posix() for p in mpy.compile_tree(firmware_dir, out_dir, march=board.arch))
        except RuntimeError as e:
            raise CliError(str(e)) from None
    # Sources are documentation for people; the device needs only the facts.
    device_def = {k: v for k, v in board.data.items() if k != "sources"}
    device_def["flash"] = dict(device_def["flash"], size="%dMB" % (board.flash_size >> 20))
    (out_dir / BOARD_FILE).write_text(json.dumps(device_def, separators=(",", ":"), sort_keys=True))
    written.add(BOARD_FILE)
    if root is not None:
        root = Path(root)
        if not root.is_dir():
            raise CliError("config root %s is not a directory" % root)
        for src in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = src.relative_to(root).as_posix()
            if rel in written:
                raise CliError("config root file %s would replace a firmware file" % rel)
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            written.add(rel)
    _check_shadowing(written)
    return sorted(written)


def _check_shadowing(files):
    """MicroPython imports a directory X (as a namespace package) before X.mpy or X.py on the same path
    entry, unlike CPython: a directory next to a module of the same name hides the module on the board."""
    dirs = {rel.rsplit("/", n)[0] for rel in files for n in range(1, rel.count("/") + 1)}
    for d in sorted(dirs):
        for ext in (".mpy", ".py"):
            if d + ext in files:
                raise CliError("directory %s/ would hide module %s%s on the board (MicroPython imports a "
                               "directory before a module of the same name)" % (d, d, ext))


def build_filesystem(board, stage_dir, files, log=print):
    """A littlefs2 image of the staged files, exactly board.vfs_size bytes."""
    block_count = board.vfs_size // FS_BLOCK
    fs = littlefs.LittleFS(block_size=FS_BLOCK, block_count=block_count, read_size=FS_IO_SIZE,
                           prog_size=FS_IO_SIZE, lookahead_size=FS_IO_SIZE, name_max=255,
                           disk_version=LFS_DISK_VERSION)
    for i, rel in enumerate(files, 1):
        parent = rel.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        data = (Path(stage_dir) / rel).read_bytes()
        try:
            with fs.open(rel, "wb") as f:
                f.write(data)
        except littlefs.LittleFSError as e:
            raise CliError("filesystem of %d KiB is full at %s (%s)" % (board.vfs_size >> 10, rel, e)) from None
        log("  [%d/%d] %-40s %7d bytes" % (i, len(files), rel, len(data)))
    used = fs.used_block_count * FS_BLOCK
    log("filesystem: %d files, %d KiB used of %d KiB (%d blocks of %d)"
        % (len(files), used >> 10, board.vfs_size >> 10, block_count, FS_BLOCK))
    return bytes(fs.context.buffer)


def check_base(board, base):
    """Refuse a base firmware that is not an ESP image for this chip or would run into the filesystem."""
    if board.is_sim:
        raise CliError("the sim board has no firmware to merge: build it without --base")
    if len(base) < 16 or base[0] != ESP_IMAGE_MAGIC:
        raise CliError("base firmware does not start with an ESP image header (magic 0xE9): use the "
                       "merged MicroPython .bin for %s (flashed at 0x%x)" % (board.chip, board.firmware_offset))
    chip_id = struct.unpack_from("<H", base, 12)[0]
    if chip_id != CHIP_DEFS[board.chip].IMAGE_CHIP_ID:
        other = [n for n, c in CHIP_DEFS.items() if getattr(c, "IMAGE_CHIP_ID", None) == chip_id]
        raise CliError("base firmware is built for %s, board %s is %s"
                       % (other[0] if other else "chip id %d" % chip_id, board.name, board.chip))
    banner = _BANNER.search(base)
    if banner and (int(banner[1]), int(banner[2])) < NATIVE_MPY_SINCE:
        raise CliError("base firmware is MicroPython v%s.%s: the firmware's native code (.mpy 6.3) needs v%d.%d or "
                       "newer" % (banner[1].decode(), banner[2].decode(), *NATIVE_MPY_SINCE))
    room = board.vfs_offset - board.firmware_offset
    if len(base) > room:
        raise CliError("base firmware (%d bytes) does not fit below the filesystem at 0x%x (%d bytes free)"
                       % (len(base), board.vfs_offset, room))


def build(board, out, base=None, root=None, frozen=False, firmware_dir=None, log=print):
    """Build the image for `board` (a boards.Board) into `out` and write its manifest; returns the
    manifest dict."""
    firmware_dir = Path(firmware_dir or paths.FIRMWARE)
    out = Path(out)
    base_data = Path(base).read_bytes() if base else None
    if base_data is not None:
        check_base(board, base_data)
    elif frozen:
        raise CliError("--frozen needs --base: the firmware modules are then frozen into that firmware")
    with tempfile.TemporaryDirectory(prefix="branchgate-image-") as tmp:
        files = stage(board, tmp, firmware_dir, root, frozen, log)
        entries = [_file_entry(Path(tmp), rel) for rel in files]
        fs_image = build_filesystem(board, tmp, files, log)
    if base_data is None:
        image, offset = fs_image, board.vfs_offset
    else:
        log("merging base firmware at 0x%x and filesystem at 0x%x" % (board.firmware_offset, board.vfs_offset))
        image = esptool_cmds.merge_bin([(board.firmware_offset, base_data), (board.vfs_offset, fs_image)],
                                       board.chip, target_offset=board.firmware_offset)
        offset = board.firmware_offset
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(image)
    manifest = {
        "format": 1,
        "board": board.name,
        "chip": board.chip,
        "arch": board.arch,
        "firmware_version": "%s+src.%s" % (__version__, source_digest(firmware_dir)[:12]),
        "flash_size": board.flash_size,
        "frozen": frozen,
        "image": {"file": out.name, "offset": offset, "size": len(image), "sha256": _sha256(image)},
        "base": None if base_data is None else {"file": Path(base).name, "offset": board.firmware_offset,
                                                 "size": len(base_data), "sha256": _sha256(base_data)},
        "filesystem": {"offset": board.vfs_offset, "size": len(fs_image), "block_size": FS_BLOCK,
                       "block_count": len(fs_image) // FS_BLOCK, "sha256": _sha256(fs_image)},
        "files": entries,
    }
    manifest_path(out).write_text(json.dumps(manifest, indent=1) + "\n")
    log("wrote %s (%d bytes, flash at 0x%x) and %s" % (out, len(image), offset, manifest_path(out).name))
    return manifest


def _file_entry(stage_dir, rel):
    data = (stage_dir / rel).read_bytes()
    return {"path": rel, "size": len(data), "sha256": _sha256(data)}


def load_manifest(image):
    path = manifest_path(image)
    if not path.is_file():
        raise CliError("no manifest %s next to the image: build it with `branchgate image build`" % path)
    return json.loads(path.read_text())


def _cmd_build(args):
    try:
        board = boards.load(args.board, args.flash_size)
    except boards.BoardError as e:
        raise CliError(str(e)) from None
    build(board, args.output or default_output(board.name), args.base, args.root, args.frozen)


def register(subparsers):
    p = subparsers.add_parser("image", help="build the flash image for a board")
    sub = p.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    b = sub.add_parser("build", help="compile firmware/, pack it into the board's littlefs partition, "
                                      "optionally merged with a MicroPython firmware .bin")
    b.add_argument("--board", required=True, help="board name (a directory under boards/)")
    b.add_argument("--flash-size", choices=("4MB", "8MB", "16MB"),
                   help="flash size of this unit (default: the board definition's)")
    b.add_argument("--base", metavar="FIRMWARE.bin",
                   help="MicroPython firmware .bin for the board's chip to merge in front of the filesystem")
    b.add_argument("--root", metavar="CONFIGROOT",
                   help="a provisioned filesystem root (branchgate provision --root) to include")
    b.add_argument("--frozen", action="store_true",
                   help="the --base firmware has firmware/ frozen in (make firmware): only board.json and "
                        "the config go into the filesystem")
    b.add_argument("-o", "--output", metavar="OUT",
                   help="image file to write (default build/images/BOARD.bin); the manifest goes next to it")
    b.set_defaults(func=_cmd_build)
