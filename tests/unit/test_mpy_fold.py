"""Build-time rewrites (host_tools/branchgate/fold.py): every `const.NAME` of ike/const.py and
net/const.py becomes its literal before mpy-cross, module-private names become short shared ones, line
numbers unchanged, and the firmware behaves the same rewritten as not (device tests run against a
rewritten copy of the tree)."""
import subprocess
import textwrap

import pytest

from branchgate import fold, mpy
from mp import DEVICE_TESTS, FIRMWARE, MICROPYTHON


def tree(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


CONSTS = {
    "ike/__init__.py": "",
    "net/__init__.py": "",
    "ike/const.py": """\
        from micropython import const
        PT_SA = const(33)
        FLAG = const(0x08)
        BOTH = const(FLAG | 0x20)
        NEG = -1
        """,
    "net/const.py": """\
        from micropython import const
        IPPROTO_ESP = const(50)
        MARKER = b"\\x00\\x00"
        """,
}


def test_references_become_literals_and_lines_stay(tmp_path):
    root = tree(tmp_path, dict(CONSTS, **{"m.py": """\
        from ike import const
        from net import const as c
        from ike.const import BOTH


        def f(x):
            return x == const.PT_SA or x & const.FLAG or const.NEG.bit_length(), c.MARKER, BOTH
        """}))
    text, n = fold.fold_file(root / "m.py")
    src = (root / "m.py").read_text()
    assert n == 5
    assert text.count("\n") == src.count("\n")
    lines = text.splitlines()
    assert lines[:3] == ["pass", "pass", "pass"]  # every import left unused is gone
    assert lines[6].strip() == "return x == 33 or x & 8 or (-1).bit_length(), b'\\x00\\x00', 40"


def test_an_alias_still_used_otherwise_keeps_its_import(tmp_path):
    root = tree(tmp_path, dict(CONSTS, **{"m.py": """\
        from ike import const, sibling
        X = const.PT_SA
        Y = const.UNKNOWN
        """}))
    text, _ = fold.fold_file(root / "m.py")
    assert text.splitlines()[:3] == ["from ike import const, sibling", "X = 33", "Y = const.UNKNOWN"]


def test_a_name_bound_again_is_a_build_error(tmp_path):
    root = tree(tmp_path, dict(CONSTS, **{"m.py": """\
        from net import const as c
        def f(c):
            return c.IPPROTO_ESP
        """}))
    with pytest.raises(ValueError, match="bound again"):
        fold.fold_file(root / "m.py")
    with pytest.raises(RuntimeError, match="constant folding"):
        mpy.compile_file(root / "m.py", tmp_path / "out" / "m.mpy")


def test_files_outside_a_firmware_tree_are_left_alone(tmp_path):
    (tmp_path / "x.py").write_text("from ike import const\nA = const.PT_SA\n")
    assert fold.fold_file(tmp_path / "x.py") == ("from ike import const\nA = const.PT_SA\n", 0)


def folded_firmware(out):
    """A copy of firmware/ with every source folded and its private names shortened, as the build does
    (as .py: the device tests can run on it)."""
    short = fold.private_names(FIRMWARE)
    assert len(short) > 10  # the copy below does differ
    for src in sorted(FIRMWARE.rglob("*.py")):
        dst = out / src.relative_to(FIRMWARE)
        dst.parent.mkdir(parents=True, exist_ok=True)
        text, _ = fold.fold_file(src)
        text = fold.shorten(text, short.get(src.relative_to(FIRMWARE).as_posix()))
        assert text.count("\n") == src.read_text().count("\n"), src  # tracebacks keep their lines
        compile(text, str(src), "exec")
        dst.write_text(text)
    return out


def test_no_firmware_module_needs_the_constant_modules_at_run_time(tmp_path):
    out = folded_firmware(tmp_path / "fw")
    for f in out.rglob("*.py"):
        if f.name != "const.py":
            text = f.read_text()
            assert "import const" not in text.replace("from micropython import const", ""), f


RUN_ALL = """
import sys
mod = __import__(sys.argv[1])
names = sorted(n for n in dir(mod) if n.startswith("test_"))
failed = []
for n in names:
    try:
        getattr(mod, n)()
    except Exception as e:
        failed.append(n)
        sys.print_exception(e)
print("ran", len(names), "failed", failed)
"""


@pytest.mark.parametrize("module", ["test_ike_codec", "test_proposal", "test_responder_init"])
def test_device_tests_pass_the_same_on_folded_firmware(tmp_path, module):
    out = folded_firmware(tmp_path / "fw")
    runner = tmp_path / "run_all.py"
    runner.write_text(RUN_ALL)
    results = {}
    for name, fw in (("source", FIRMWARE), ("folded", out)):
        p = subprocess.run([MICROPYTHON, "-X", "heapsize=2m", str(runner), module], capture_output=True, text=True,
                           timeout=600, env={"MICROPYPATH": ":".join([".frozen", str(fw), str(DEVICE_TESTS)])})
        assert p.returncode == 0, p.stdout + p.stderr
        results[name] = p.stdout.splitlines()
    ran = results["source"][-1]
    assert ran.startswith("ran ") and ran.endswith("failed []") and not ran.startswith("ran 0 "), \
        "\n".join(results["source"][-30:])
    assert results["folded"][-1] == ran, "\n".join(results["folded"][-30:])


def test_references_inside_f_strings_are_left_with_their_import(tmp_path):
    root = tree(tmp_path, dict(CONSTS, **{"m.py": """\
        from ike import const
        A = const.PT_SA
        B = f"{const.PT_SA}"
        """}))
    text, n = fold.fold_file(root / "m.py")
    assert n == 1 and text.splitlines() == ["from ike import const", "A = 33", 'B = f"{const.PT_SA}"']


PRIVATE = {
    "m.py": """\
        import time
        from ike import const

        _TABLE = (1, 2)
        _SHARED = 3
        _NAMED = 4


        class _Kept:
            def __init__(self, _arg):
                self._state = _arg
                self._field = 0

            def _step(self):
                self._state += _TABLE[0]
                return getattr(self, "_field") + _go(_kw=1)


        def _go(_kw=0):
            _local = time.ticks_ms
            return _kw + _TABLE[1] + _SHARED + _NAMED if _local else "_NAMED"


        def run():
            return _Kept(1)._step()
        """,
    "n.py": """\
        import m
        _SHARED = m._SHARED
        """,
    "o.py": """\
        import m


        class Sub(m._Kept):
            def _more(self):
                self._extra = 1


        class Deeper(Sub):
            def _most(self):
                self._deep = 1


        def _poke(x):
            x._tag = 1
        """,
}


def test_private_names_are_shortened_per_module(tmp_path):
    root = tree(tmp_path / "fw", dict(CONSTS, **PRIVATE))
    tree(tmp_path / "tests", {"t.py": "m._TABLE, m.run\n"})  # a test script on the build reaches in: kept
    short = fold.private_names(root)
    # Not: a class, an argument a caller passes by keyword, a name another module (or a test) mentions,
    # a getattr's, an attribute of another module's class or object.
    assert short["m.py"] == {"_arg": "_0", "_state": "_1", "_step": "_2", "_go": "_3", "_local": "_4"}
    assert short["o.py"] == {"_poke": "_0", "x": "_1"}
    assert "n.py" not in short and "ike/const.py" not in short
    src = (root / "m.py").read_text()
    text = fold.shorten(src, short["m.py"])
    assert text.count("\n") == src.count("\n")
    assert "self._1 += _TABLE[0]" in text and "return getattr(self, \"_field\") + _3(_kw=1)" in text
    assert "def _3(_kw=0):" in text and '_4 = time.ticks_ms' in text and '"_NAMED"' in text


def test_a_built_tree_runs_and_maps_its_short_names(tmp_path):
    root = tree(tmp_path / "fw", dict(CONSTS, **PRIVATE))
    tree(tmp_path / "tests", {"t.py": "m._TABLE, m.run\n"})
    written = mpy.compile_tree(root, tmp_path / "out", keep_py=())
    assert "names.map" not in {p.as_posix() for p in written}  # not a device file
    assert "m.py _3 _go\n" in (tmp_path / "out" / "names.map").read_text()
    p = subprocess.run([MICROPYTHON, "-c", "import m; print(m.run(), m._TABLE, m._SHARED)"],
                       capture_output=True, text=True, env={"MICROPYPATH": str(tmp_path / "out")})
    assert p.stdout.split() == ["10", "(1,", "2)", "3"], p.stderr


def test_a_literal_keeps_only_the_private_names_it_could_build(tmp_path):
    # "%s_x" % k can build a name ending in "_x", "_name" + k one starting with "_name", k + "_r" one
    # ending in "_r" (not one starting so); "%s_i done" (a log line) builds no name at all, so it keeps no
    # "_i..." name.
    root = tree(tmp_path / "fw", dict(CONSTS, **{"m.py": """\
        def _input():
            return 1


        def _rx():
            return 4


        def _tail_r():
            return 5


        def _load_x():
            return 2


        def _name_ok():
            return 3


        def run(k):
            built = "%s_i done" % k, "%s_x" % k, "_name" + k, k + "_r"
            return built, _input() + _load_x() + _name_ok() + _rx() + _tail_r()
        """}))
    short = fold.private_names(root)["m.py"]
    assert "_input" in short and "_rx" in short
    assert "_load_x" not in short and "_name_ok" not in short and "_tail_r" not in short


ARGS = {
    "m.py": """\
        import time

        LIMIT = 3


        def span(first_ms, last_ms, scale, label, limit, min):
            return (last_ms - first_ms) * scale, label, limit, min, time.ticks_ms


        def tag(item):
            return "item", item.stamp


        def run(sizes):
            return span(1, sizes, scale=2, label="x", limit=LIMIT, min=0)
        """,
    "n.py": """\
        import m


        def go(sizes):
            return m.span(0, sizes, 1, "y", 0, 0)
        """,
}


def test_arguments_no_caller_names_are_shortened(tmp_path):
    root = tree(tmp_path / "fw", dict(CONSTS, **ARGS))
    tree(tmp_path / "tests", {"t.py": "m.span(0, 1, 2, 'z', 0, first_ms=0), m.run, m.tag, m.LIMIT, n.go\n"})
    short = fold.private_names(root)
    # Not: one passed by keyword here (scale, label, limit, min), by a test (first_ms), one that is also a
    # word of a string, an attribute or a builtin (item, min), or one another module has (sizes: no gain).
    assert short["m.py"] == {"last_ms": "_0"}
    assert "n.py" not in short
    written = mpy.compile_tree(root, tmp_path / "out", keep_py=())
    assert written
    p = subprocess.run([MICROPYTHON, "-c", "import m; print(m.run(5)[:4])"], capture_output=True, text=True,
                       env={"MICROPYPATH": str(tmp_path / "out")})
    assert p.stdout.split() == ["(8,", "'x',", "3,", "0)"], p.stderr


def test_public_names_no_other_source_mentions_are_shortened(tmp_path):
    root = tree(tmp_path / "fw", dict(CONSTS, **{"m.py": """\
        LIMIT = 3
        SPAN = 2
        NAMED = 1


        class Thing:
            pass


        def helper():
            return SPAN + LIMIT


        def write(f):
            f.write(b"x")


        def run():
            return helper(), getattr(Thing, "NAMED", NAMED), write
        """, "n.py": """\
        import m
        X = m.LIMIT + m.run()[0]
        """}))
    tree(tmp_path / "tests", {"t.py": "m.run(), n.X\n"})
    short = fold.private_names(root)
    # Not: one another module or a test mentions (LIMIT, run, X), a class, a word of a string, one that is
    # also an attribute of another object (write: f.write).
    assert set(short["m.py"]) == {"SPAN", "helper", "f"}
    mpy.compile_tree(root, tmp_path / "out", keep_py=())
    p = subprocess.run([MICROPYTHON, "-c", "import n; print(n.X)"], capture_output=True, text=True,
                       env={"MICROPYPATH": str(tmp_path / "out")})
    assert p.stdout.split() == ["8"], p.stderr


def test_a_private_name_several_modules_keep_to_themselves_is_shortened_in_each(tmp_path):
    root = tree(tmp_path / "fw", dict(CONSTS, **{"m.py": """\
        _LOG = 1


        class Box:
            def __init__(self):
                self._seen = 2

            def seen(self):
                return self._seen + _LOG
        """, "n.py": """\
        import m
        _LOG = 3


        def peek(box):
            return box._seen + _LOG
        """, "o.py": """\
        _LOG = 4
        _TRACE = 5
        """}))
    tree(tmp_path / "tests", {"t.py": "m.Box().seen(), n.peek, o._TRACE\n"})
    short = fold.private_names(root)
    # _LOG: each module's own. Not _seen (n reads it on m's object) nor _TRACE (a test names it).
    assert "_LOG" in short["m.py"] and "_LOG" in short["n.py"] and "_LOG" in short["o.py"]
    assert "_seen" not in short["m.py"] and "_TRACE" not in short["o.py"]
