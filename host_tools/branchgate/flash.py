"""`branchgate flash`: put a built image on a board over its USB-serial port with esptool (as a library).

The chip is detected first and the flash refused if it is not the board's chip or its flash size is not
the one the image was built for; then the image is written at the offset its manifest gives, verified
against the file, and the chip hard-reset. esptool's own messages and progress come through a logger installed for the duration.
"""
import hashlib
import sys
from contextlib import contextmanager
from pathlib import Path

from esptool import cmds as esptool_cmds
from esptool.logger import EspLog, TemplateLogger, log as esptool_log
from esptool.util import FatalError

from . import boards, image
from .cli import CliError

ROM_BAUD = 115200


class ProgressLogger(TemplateLogger):
    """esptool's output as plain lines, its progress bars as one updating percentage line."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self._last = None

    def _line(self, text):
        if self._last is not None:
            self.out.write("\n")
            self._last = None
        self.out.write(text + "\n")
        self.out.flush()

    def print(self, *args, **kwargs):
        text = " ".join(str(a) for a in args).strip()
        if text:
            self._line("  " + text)

    def note(self, message):
        self._line("  note: %s" % message)

    def warning(self, message):
        self._line("  warning: %s" % message)

    def error(self, message):
        self._line("  error: %s" % message)

    def stage(self, finish=False):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        percent = 100 * cur_iter // max(total_iters, 1)
        if percent != self._last:
            self.out.write("\r  %s %3d%%" % (prefix.strip() or "progress", percent))
            self.out.flush()
            self._last = percent
        if cur_iter >= total_iters:
            self.out.write("\n")
            self._last = None

    def set_verbosity(self, verbosity):
        pass


@contextmanager
def esptool_logging(logger):
    previous = EspLog.instance
    esptool_log.set_logger(logger)
    try:
        yield
    finally:
        EspLog.instance = previous


def chip_name(esp):
    """esptool's CHIP_NAME ("ESP32-S3") in the boards' spelling ("esp32s3")."""
    return esp.CHIP_NAME.lower().replace("-", "")


def read_image(board, path):
    """The image bytes and its manifest, checked to belong to `board` and to be intact."""
    path = Path(path)
    if not path.is_file():
        raise CliError("no image %s: run `branchgate image build --board %s` first" % (path, board.name))
    manifest = image.load_manifest(path)
    if manifest["board"] != board.name:
        raise CliError("image %s was built for board %s, not %s" % (path, manifest["board"], board.name))
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest["image"]["sha256"]:
        raise CliError("image %s does not match its manifest (sha256 differs): rebuild it" % path)
    return data, manifest


def flash(board, port, image_path, baud=460800, out=None):
    """Write image_path to the board on `port`; returns the offset written at."""
    if board.is_sim:
        raise CliError("the sim board runs on this machine: use `branchgate sim run`, there is nothing to flash")
    data, manifest = read_image(board, image_path)
    offset = manifest["image"]["offset"]
    logger = ProgressLogger(out)
    with esptool_logging(logger):
        logger.print("connecting to %s" % port)
        try:
            esp = esptool_cmds.detect_chip(port, ROM_BAUD)
        except (FatalError, OSError) as e:
            raise CliError("no ESP bootloader answered on %s: %s" % (port, _one_line(e))) from None
        try:
            found = chip_name(esp)
            if found != board.chip:
                raise CliError("board %s is an %s, but the chip on %s is an %s: wrong board or wrong port"
                               % (board.name, board.chip, port, esp.CHIP_NAME))
            _write(esp, manifest, offset, data, baud, logger)
        except FatalError as e:
            raise CliError("flashing failed: %s" % _one_line(e)) from None
        finally:
            esp._port.close()
    return offset


def _write(esp, manifest, offset, data, baud, logger):
    esp = esptool_cmds.run_stub(esp)
    if baud != ROM_BAUD:
        esp.change_baud(baud)
    esptool_cmds.attach_flash(esp)
    size_text = esptool_cmds.detect_flash_size(esp)
    # MicroPython sizes its vfs partition to the end of the flash it finds, and littlefs mounts only if
    # the image has exactly that many blocks: the flash size must match, not merely suffice.
    if size_text is not None and esptool_cmds.flash_size_bytes(size_text) != manifest["flash_size"]:
        raise CliError("the chip has %s flash but the image was built for %dMB: rebuild it with "
                       "--flash-size %s" % (size_text, manifest["flash_size"] >> 20, size_text))
    logger.print("writing %d bytes at 0x%x" % (len(data), offset))
    esptool_cmds.write_flash(esp, [(offset, data)])
    esptool_cmds.verify_flash(esp, [(offset, data)])
    esptool_cmds.reset_chip(esp, "hard-reset")


def _one_line(error):
    return " ".join(str(error).split())


def _cmd_flash(args):
    try:
        board = boards.load(args.board)
    except boards.BoardError as e:
        raise CliError(str(e)) from None
    path = Path(args.image) if args.image else image.default_output(board.name)
    offset = flash(board, args.port, path, args.baud)
    print("flashed %s to %s at 0x%x, verified, reset" % (path, args.port, offset))


def register(subparsers):
    p = subparsers.add_parser("flash", help="write a built image to a board over USB-serial (esptool)")
    p.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    p.add_argument("--board", required=True, help="board name (a directory under boards/)")
    p.add_argument("--image", metavar="OUT",
                   help="image built by `branchgate image build` (default build/images/BOARD.bin)")
    p.add_argument("--baud", type=int, default=460800, help="baud rate after connecting (default 460800)")
    p.set_defaults(func=_cmd_flash)
