"""`branchgate firmware`: custom MicroPython firmware with branchgate frozen in (`make firmware BOARD=NAME`).

Each hardware board has a MicroPython board definition in boards/NAME/micropython/ (mpconfigboard.cmake,
mpconfigboard.h, sdkconfig.board, manifest.py, and the PRODUCTION variant). `build` runs MicroPython's
ESP32 port build on it, which needs ESP-IDF and a MicroPython source tree; without them it says exactly
what is missing. `check` needs neither: it evaluates the board's manifest the way MicroPython's
tools/manifestfile.py does, checks every file it names exists, and compiles every frozen module with
mpy-cross for the board's architecture.
"""
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import boards, mpy, paths
from .cli import CliError

VARIANTS = ("PRODUCTION",)
# Manifest path variables that point into a MicroPython source tree (not part of this repository).
TREE_VARS = ("MPY_DIR", "MPY_LIB_DIR", "PORT_DIR")


class ManifestError(ValueError):
    pass


@dataclass
class Frozen:
    """What a manifest freezes: (source file, frozen name) pairs from this repository, and the paths it
    takes from the MicroPython tree (which only exists where the firmware is really built)."""
    files: list = field(default_factory=list)
    tree_paths: list = field(default_factory=list)


def board_dir(name):
    return paths.BOARDS / name / "micropython"


def manifest_for(name, variant=None):
    """The top-level manifest MicroPython's build uses for this board and variant (as the cmake files
    set MICROPY_FROZEN_MANIFEST)."""
    cmake = board_dir(name) / ("mpconfigvariant_%s.cmake" % variant if variant else "mpconfigboard.cmake")
    if not cmake.is_file():
        raise ManifestError("%s does not exist" % cmake)
    m = re.search(r"set\(MICROPY_FROZEN_MANIFEST\s+(\S+)\)", cmake.read_text())
    if not m:
        raise ManifestError("%s does not set MICROPY_FROZEN_MANIFEST" % cmake)
    return Path(m.group(1).replace("${MICROPY_BOARD_DIR}", str(board_dir(name)))).resolve()


def evaluate(manifest, bdir, micropy_dir=None):
    """Run a manifest.py with the manifest functions MicroPython provides (freeze, package, module,
    include), collecting what it freezes. Paths under $(MPY_DIR)/$(PORT_DIR) are followed only when
    micropy_dir is given; otherwise they are listed in .tree_paths."""
    frozen = Frozen()
    variables = {"BOARD_DIR": str(bdir)}
    if micropy_dir:
        micropy_dir = Path(micropy_dir)
        variables.update(MPY_DIR=str(micropy_dir), MPY_LIB_DIR=str(micropy_dir / "lib" / "micropython-lib"),
                         PORT_DIR=str(micropy_dir / "ports" / "esp32"))

    def run(path):
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.py"
        if not path.is_file():
            raise ManifestError("manifest %s does not exist" % path)
        here = path.parent

        def resolve(p):
            m = re.match(r"\$\((\w+)\)", p)
            if m and m.group(1) not in variables:
                if m.group(1) not in TREE_VARS:
                    raise ManifestError("%s: unknown variable %s" % (path, m.group(0)))
                frozen.tree_paths.append(p)
                return None
            if m:
                p = variables[m.group(1)] + p[m.end():]
            return (here / p).resolve()

        def add(src, name):
            if not src.is_file():
                raise ManifestError("%s names %s, which does not exist" % (path, src))
            frozen.files.append((src, name))

        def freeze(base, script=None, opt=None):
            base = resolve(base)
            if base is None:
                return
            if not base.is_dir():
                raise ManifestError("%s: freeze() directory %s does not exist" % (path, base))
            scripts = [script] if isinstance(script, str) else script
            if scripts is None:
                for src in sorted(base.rglob("*.py")):
                    add(src, src.relative_to(base).as_posix())
            else:
                for s in scripts:
                    add(base / s, s)

        def package(name, files=None, base_path=".", opt=None):
            base = resolve(base_path)
            if base is None:
                return
            if not (base / name).is_dir():
                raise ManifestError("%s: package %s does not exist in %s" % (path, name, base))
            for f in files or sorted(p.relative_to(base / name).as_posix() for p in (base / name).rglob("*.py")):
                add(base / name / f, "%s/%s" % (name, f))

        def module(name, base_path=".", opt=None):
            base = resolve(base_path)
            if base is not None:
                add(base / name, name)

        def include(p, **kwargs):
            target = resolve(p)
            if target is not None:
                run(target)

        def unsupported(*args, **kwargs):
            raise ManifestError("%s: require()/c_module() need micropython-lib or C sources; "
                                "branchgate manifests freeze only this repository's files" % path)

        env = dict(freeze=freeze, package=package, module=module, include=include, require=unsupported,
                   c_module=unsupported, metadata=lambda **kw: None, options=None)
        exec(compile(path.read_text(), str(path), "exec"), env)

    run(manifest)
    return frozen


def check(name, out_dir, variant=None):
    """Compile every module the board's manifest freezes from this repository with mpy-cross for the
    board's arch, into out_dir. Returns the Frozen listing."""
    board = boards.load(name)
    frozen = evaluate(manifest_for(name, variant), board_dir(name))
    names = [n for _, n in frozen.files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError("board %s freezes %s twice" % (name, ", ".join(duplicates)))
    compile_all(frozen.files, out_dir, board.arch)
    return frozen


def compile_all(files, out_dir, arch):
    """mpy-cross every (source, frozen name) into out_dir; each is its own process, so run them side by
    side. Raises RuntimeError naming the first module that does not compile."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
        jobs = [pool.submit(mpy.compile_file, src, Path(out_dir) / (name[:-3] + ".mpy"), arch)
                for src, name in files]
        for job in jobs:
            job.result()


def missing_prerequisites(env=None):
    """What `build` needs and cannot find, each as a short instruction."""
    env = os.environ if env is None else env
    missing = []
    idf = env.get("IDF_PATH")
    if not idf:
        missing.append("ESP-IDF: IDF_PATH is not set (install ESP-IDF v5.2-v5.5 and run `. $IDF_PATH/export.sh`)")
    elif not (Path(idf) / "tools" / "idf.py").is_file():
        missing.append("ESP-IDF: IDF_PATH=%s has no tools/idf.py" % idf)
    elif not shutil.which("idf.py", path=env.get("PATH")):
        missing.append("ESP-IDF environment: idf.py is not on PATH (run `. %s/export.sh`)" % idf)
    mp = env.get("MICROPY_DIR")
    if not mp:
        missing.append("MicroPython source: MICROPY_DIR is not set (git clone "
                       "https://github.com/micropython/micropython, then `make -C ports/esp32 submodules`)")
    elif not (Path(mp) / "ports" / "esp32" / "Makefile").is_file():
        missing.append("MicroPython source: MICROPY_DIR=%s has no ports/esp32/Makefile" % mp)
    elif not (Path(mp) / "mpy-cross" / "build" / "mpy-cross").is_file():
        missing.append("MicroPython's mpy-cross: run `make -C %s/mpy-cross`" % mp)
    return missing


def build(name, variant=None, env=None):
    """Build boards/NAME/micropython with MicroPython's ESP32 port; returns the firmware.bin path."""
    env = dict(os.environ if env is None else env)
    try:
        board = boards.load(name)
    except boards.BoardError as e:
        raise CliError(str(e)) from None
    if board.is_sim:
        raise CliError("the sim board runs the unix port: there is no firmware to build")
    missing = missing_prerequisites(env)
    if missing:
        raise CliError("cannot build firmware for %s: missing %s" % (name, "; ".join(missing)))
    out = paths.BUILD / "firmware" / (name + ("-" + variant.lower() if variant else ""))
    cmd = ["make", "-C", str(Path(env["MICROPY_DIR"]) / "ports" / "esp32"),
           "BOARD=" + name.upper().replace("-", "_"), "BOARD_DIR=" + str(board_dir(name)), "BUILD=" + str(out)]
    if variant:
        cmd.append("BOARD_VARIANT=" + variant)
    print("building MicroPython for %s%s: %s" % (name, " (%s)" % variant if variant else "", " ".join(cmd)))
    if subprocess.run(cmd, env=env).returncode != 0:
        raise CliError("MicroPython's ESP32 build failed (see its output above)")
    firmware = out / "firmware.bin"
    print("built %s\nnext: branchgate image build --board %s --base %s --frozen" % (firmware, name, firmware))
    return firmware


def _cmd_build(args):
    if not args.board:
        raise CliError("say which board: make firmware BOARD=NAME (one of: %s)"
                       % ", ".join(n for n in boards.names() if board_dir(n).is_dir()))
    build(args.board, args.variant)


def _cmd_check(args):
    out = paths.BUILD / "frozen-check" / args.board
    try:
        frozen = check(args.board, out, args.variant)
    except (ManifestError, boards.BoardError, RuntimeError) as e:
        raise CliError(str(e)) from None
    print("%s: %d frozen modules exist and compile for %s (from the MicroPython tree: %s)"
          % (args.board, len(frozen.files), boards.load(args.board).arch, ", ".join(frozen.tree_paths) or "none"))


def register(subparsers):
    p = subparsers.add_parser("firmware", help="custom MicroPython firmware with branchgate frozen in")
    sub = p.add_subparsers(dest="firmware_command", required=True, metavar="ACTION")
    for action, func, text in (("build", _cmd_build, "build it (needs ESP-IDF and MICROPY_DIR)"),
                               ("check", _cmd_check, "check the board's manifest and compile what it freezes")):
        a = sub.add_parser(action, help=text)
        a.add_argument("--board", required=action == "check", default="", help="hardware board name")
        a.add_argument("--variant", choices=VARIANTS, help="PRODUCTION: Ctrl-C disabled, no REPL")
        a.set_defaults(func=func)
