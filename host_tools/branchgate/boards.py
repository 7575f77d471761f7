"""Board definitions: boards/NAME/board.json, loaded and checked.

The same JSON file goes into the device's filesystem as /board.json, where the firmware reads its WAN,
LAN port, LED and button at boot; the host tools read the chip, the mpy-cross architecture and the flash
layout from it. `validate` is the single place that decides whether a definition is complete and
consistent: every field present, every fact cited in "sources", no GPIO used twice, pins usable for
their role on that chip, offsets and architecture matching the chip.
"""
import json
from dataclasses import dataclass

from . import paths


class BoardError(ValueError):
    """A board definition that is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class Chip:
    arch: str             # mpy-cross -march for native code on this chip
    firmware_offset: int  # where MicroPython's merged firmware .bin starts (its board.json flash_offset)
    gpios: range          # GPIO numbers that exist
    reserved: frozenset   # wired to the SPI flash/PSRAM inside the module
    input_only: frozenset


CHIPS = {
    "esp32": Chip("xtensawin", 0x1000, range(40), frozenset(range(6, 12)), frozenset((34, 35, 36, 37, 38, 39))),
    "esp32s2": Chip("xtensawin", 0x1000, range(47), frozenset(range(26, 33)), frozenset((46,))),
    "esp32s3": Chip("xtensawin", 0x0, range(49), frozenset(range(26, 33)), frozenset()),
    "esp32c3": Chip("rv32imc", 0x0, range(22), frozenset(range(12, 18)), frozenset()),
    "esp32c6": Chip("rv32imc", 0x0, range(31), frozenset(range(24, 31)), frozenset()),
    "esp32p4": Chip("rv32imc", 0x2000, range(55), frozenset(), frozenset()),
    # The sim board: the unix port. Its "flash" mirrors the ESP32 layout so its image is built and
    # mounted the same way; its pins are fakes named "sim".
    "unix": Chip("host", 0x1000, range(0), frozenset(), frozenset()),
}

# What `mpy-cross -march=` accepts (mpy-cross 1.29 --help).
MPY_ARCHS = frozenset(("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
                       "xtensa", "xtensawin", "rv32imc", "rv64imc", "host", "debug"))

FLASH_SIZES = {"2MB": 2 << 20, "4MB": 4 << 20, "8MB": 8 << 20, "16MB": 16 << 20, "32MB": 32 << 20}
FS_BLOCK = 4096
PHYS = frozenset(("LAN8720", "IP101", "RTL8201", "DP83848", "KSZ8081"))
SPI_ETH = frozenset(("w5500", "enc28j60"))
SPI_PINS = ("sck", "mosi", "miso", "cs", "int")
EMAC_PINS = ("mdc", "mdio", "power", "reset", "ref_clk")
TOP_FIELDS = ("name", "description", "chip", "arch", "flash", "wan", "lan", "led", "button", "sources")
CITED = ("wan", "lan", "flash", "led", "button")


@dataclass(frozen=True)
class Board:
    name: str
    chip: str
    arch: str
    flash_size: int
    firmware_offset: int
    vfs_offset: int
    data: dict  # the definition as written, which goes to the device as /board.json

    @property
    def vfs_size(self):
        return self.flash_size - self.vfs_offset

    @property
    def is_sim(self):
        return self.chip == "unix"


def parse_size(text):
    try:
        return FLASH_SIZES[text.upper()]
    except KeyError:
        raise BoardError("flash size %r: expected one of %s" % (text, ", ".join(FLASH_SIZES))) from None


def names(boards_dir=None):
    """The names of all defined boards."""
    root = boards_dir or paths.BOARDS
    return sorted(p.parent.name for p in root.glob("*/board.json"))


def read(name, boards_dir=None):
    """The raw definition of board `name` (a dict), unvalidated."""
    path = (boards_dir or paths.BOARDS) / name / "board.json"
    if not path.is_file():
        raise BoardError("unknown board %r (known: %s)" % (name, ", ".join(names(boards_dir))))
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise BoardError("%s: not valid JSON: %s" % (path, e)) from None


def load(name, flash_size=None, boards_dir=None):
    """Board `name`, validated; flash_size ("8MB") overrides the definition's default."""
    data = read(name, boards_dir)
    problems = validate(data, name)
    if problems:
        raise BoardError("board %s: %s" % (name, "; ".join(problems)))
    flash = data["flash"]
    size = parse_size(flash_size or flash["size"])
    vfs_offset = int(flash["vfs_offset"], 16)
    if size <= vfs_offset:
        raise BoardError("board %s: %s flash leaves no room for the filesystem at %s"
                         % (name, flash_size or flash["size"], flash["vfs_offset"]))
    return Board(name, data["chip"], data["arch"], size, int(flash["firmware_offset"], 16), vfs_offset, data)


def validate(data, name=None):
    """Every problem found in a definition, as short messages naming the field (empty if sound)."""
    problems = ["missing field %r" % f for f in TOP_FIELDS if f not in data]
    if problems:
        return problems
    if name is not None and data["name"] != name:
        problems.append("name %r does not match its directory %r" % (data["name"], name))
    chip = CHIPS.get(data["chip"])
    if chip is None:
        return problems + ["chip %r: expected one of %s" % (data["chip"], ", ".join(CHIPS))]
    if data["arch"] not in MPY_ARCHS:
        problems.append("arch %r is not an mpy-cross architecture" % data["arch"])
    elif data["arch"] != chip.arch:
        problems.append("arch %r does not match chip %s (%s)" % (data["arch"], data["chip"], chip.arch))
    problems += _check_flash(data["flash"], chip)
    problems += _check_wan(data["wan"])
    problems += _check_lan(data["lan"])
    for part in ("led", "button"):
        if "pin" not in data[part]:
            problems.append("%s.pin missing" % part)
    cited = set(CITED) | ({"rmii"} if "rmii" in data["wan"] else set())
    problems += ["sources.%s missing (cite where the %s facts come from)" % (k, k)
                 for k in sorted(cited) if not data["sources"].get(k)]
    if not chip.gpios:
        return problems
    return problems + _check_pins(data, chip)


def _check_flash(flash, chip):
    problems = []
    for field in ("size", "firmware_offset", "vfs_offset"):
        if field not in flash:
            problems.append("flash.%s missing" % field)
    if problems:
        return problems
    if flash["size"] not in FLASH_SIZES:
        problems.append("flash.size %r: expected one of %s" % (flash["size"], ", ".join(FLASH_SIZES)))
    try:
        fw, vfs = int(flash["firmware_offset"], 16), int(flash["vfs_offset"], 16)
    except (TypeError, ValueError):
        return problems + ["flash offsets must be hex strings like \"0x1000\""]
    if fw != chip.firmware_offset:
        problems.append("flash.firmware_offset %s does not match the chip (0x%x)" % (flash["firmware_offset"],
                                                                                    chip.firmware_offset))
    if vfs % FS_BLOCK or vfs <= fw:
        problems.append("flash.vfs_offset %s must be a 4 KiB multiple above the firmware" % flash["vfs_offset"])
    return problems


def _check_wan(wan):
    kind = wan.get("type")
    problems = []
    if wan.get("addressing") not in ("dhcp", "static"):
        problems.append("wan.addressing must be \"dhcp\" or \"static\"")
    if kind == "emac":
        if wan.get("phy") not in PHYS:
            problems.append("wan.phy %r: expected one of %s" % (wan.get("phy"), ", ".join(sorted(PHYS))))
        if not isinstance(wan.get("phy_addr"), int) or not 0 <= wan["phy_addr"] <= 31:
            problems.append("wan.phy_addr must be 0..31")
        problems += ["wan.%s missing" % f for f in ("mdc", "mdio", "ref_clk") if f not in wan]
        if wan.get("ref_clk_mode") not in ("in", "out"):
            problems.append("wan.ref_clk_mode must be \"in\" or \"out\"")
    elif kind in SPI_ETH:
        problems += ["wan.%s missing" % f for f in SPI_PINS + ("spi",) if f not in wan]
    elif kind != "host":
        problems.append("wan.type %r: expected emac, w5500, enc28j60 or host" % kind)
    return problems


def _check_lan(lan):
    kind = lan.get("type")
    if kind in SPI_ETH:
        return ["lan.%s missing" % f for f in SPI_PINS + ("spi", "baudrate") if f not in lan]
    if kind == "afpacket":
        return [] if lan.get("ifname") else ["lan.ifname missing"]
    if kind == "host":
        return []
    return ["lan.type %r: expected w5500, enc28j60, afpacket or host" % kind]


def _pin_uses(data):
    """(pin, role, drives_output) for every GPIO the definition claims."""
    wan, lan = data["wan"], data["lan"]
    uses = []
    for f in EMAC_PINS:
        if isinstance(wan.get(f), int):
            # MDIO is bidirectional and the clock pin only drives when the ESP32 makes the clock.
            uses.append((wan[f], "wan." + f, f != "ref_clk" or wan.get("ref_clk_mode") == "out"))
    for f, pin in wan.get("rmii", {}).items():
        uses.append((pin, "wan.rmii." + f, f.startswith("tx")))
    for part, spi in (("wan", wan), ("lan", lan)):
        if spi.get("type") in SPI_ETH:
            for f in SPI_PINS + ("reset",):
                if isinstance(spi.get(f), int):
                    uses.append((spi[f], "%s.%s" % (part, f), f not in ("miso", "int")))
    uses.append((data["led"]["pin"], "led.pin", True))
    uses.append((data["button"]["pin"], "button.pin", False))
    return uses


def _check_pins(data, chip):
    problems, seen = [], {}
    for pin, role, output in _pin_uses(data):
        if not isinstance(pin, int) or pin not in chip.gpios:
            problems.append("%s: GPIO %r does not exist on %s" % (role, pin, data["chip"]))
            continue
        if pin in chip.reserved:
            problems.append("%s: GPIO%d is wired to the module's flash/PSRAM" % (role, pin))
        if output and pin in chip.input_only:
            problems.append("%s: GPIO%d is input-only" % (role, pin))
        if role == "button.pin" and pin in chip.input_only and data["button"].get("pull") != "external":
            problems.append("button.pin: GPIO%d has no internal pull-up; set \"pull\": \"external\"" % pin)
        if pin in seen:
            problems.append("GPIO%d used twice: %s and %s" % (pin, seen[pin], role))
        seen.setdefault(pin, role)
    return problems
