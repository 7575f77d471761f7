"""Build-time constant folding for the firmware (run on each source before mpy-cross, for the sim board
and the chip images alike). MicroPython folds `micropython.const()` only inside the module that defines
it: every `const.PT_SA` elsewhere is a global load, an attribute lookup, an interned name and a dict
entry at run time, and keeps ike/const.py (~200 names) and net/const.py resident. This rewrites each
`alias.NAME` (alias from `from ike import const [as alias]`, `from net import const as c`, `import
ike.const as alias`) and each bare NAME from `from ike.const import NAME` into the constant's literal,
then drops an import left unused. The rewrite edits the source text in place, token by token, so line
numbers (tracebacks) stay as in the source; the firmware still runs unfolded as plain .py.

A module that binds the alias to something else anywhere (a parameter, a local) is a build error rather
than a silent mis-fold.

Private names are shortened the same way (private_names, shorten): every name is interned for good when a
.mpy loads, ~20 bytes of heap each, and a module-private name is one no other module shares. Each module's
private names, its public ones no other source mentions, and the arguments only it has and no caller
passes by keyword become _0, _1, ... _a ... in the order they first appear, so the modules share those
few names instead of interning ~300 of their own. Line numbers stay (mpy.py decides whether the bytecode
keeps them); compile_tree writes the map (names.map) next to the build for reading tracebacks."""
import ast
import builtins
import functools
import io
import itertools
import re
import string
import threading
import tokenize
from pathlib import Path

CONST_MODULES = ("ike.const", "net.const")
# Sources beside the firmware tree that may reach into its modules by name on the built firmware (the
# test scripts run on it): a name they mention keeps its name, an argument they may pass by keyword
# too. (The host tools import the sources, never the build; anything else that runs on the build, like
# a probe script, should name only what the firmware's own modules name.)
MENTIONS = ("tests",)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A word a source may pass as a keyword argument: `word=` (not `==`), or a quoted "word" (a ** dict's key).
_NAMED = re.compile(r"""\b([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)|["']([A-Za-z_][A-Za-z0-9_]*)["']""")
_PIECE = re.compile(r"[A-Za-z0-9_]+")
_FORMAT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[a-zA-Z%]|\{[^{}]*\}")
_BY_NAME = ("locals", "globals", "vars", "eval", "exec")  # they reach variables by name at run time
_BUILTIN_BASES = ("object", "Exception", "ValueError", "OSError", "RuntimeError", "TypeError", "KeyError")
# CPython 3.11's ast.parse is not safe in threads ("AST constructor recursion depth mismatch";
# firmware.compile_all compiles modules side by side): folding takes turns, mpy-cross still runs in
# parallel.
_LOCK = threading.Lock()


def firmware_root(src):
    """The firmware tree that holds src (the nearest ancestor with ike/const.py), or None."""
    for d in Path(src).resolve().parents:
        if (d / "ike" / "const.py").is_file():
            return d
    return None


def const_table(path):
    """{NAME: value} for the top-level `NAME = const(expr)` / `NAME = <bytes or int literal>` of a
    constant module; expressions may use earlier names."""
    table = {}
    for node in ast.parse(Path(path).read_text()).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "const"
                and len(value.args) == 1):
            value = value.args[0]
        try:
            v = _evaluate(value, table)
        except ValueError:
            continue
        if isinstance(v, (int, bytes)) and not isinstance(v, bool):
            table[node.targets[0].id] = v
    return table


def _evaluate(node, names):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, bytes)):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Invert, ast.UAdd)):
        v = _evaluate(node.operand, names)
        return {ast.USub: lambda: -v, ast.Invert: lambda: ~v, ast.UAdd: lambda: v}[type(node.op)]()
    if isinstance(node, ast.BinOp):
        a, b = _evaluate(node.left, names), _evaluate(node.right, names)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.BitOr: lambda: a | b,
               ast.BitAnd: lambda: a & b, ast.BitXor: lambda: a ^ b, ast.LShift: lambda: a << b,
               ast.RShift: lambda: a >> b, ast.FloorDiv: lambda: a // b}
        if type(node.op) in ops and isinstance(a, int) and isinstance(b, int):
            return ops[type(node.op)]()
    raise ValueError("not a constant expression")


class Folder:
    """Folds sources of the firmware tree at `root`."""

    def __init__(self, root):
        self.root = Path(root)
        self.tables = {m: const_table(self.root.joinpath(*m.split(".")).with_suffix(".py")) for m in CONST_MODULES}

    def fold(self, text, name="<firmware>"):
        """text with the constant references folded; (text, number of references folded)."""
        tree = ast.parse(text, name)
        modules, names, imports = {}, {}, []  # alias -> table; bare name -> value; import nodes to revisit
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                for a in node.names:
                    full = "%s.%s" % (node.module, a.name)
                    if full in self.tables:
                        modules[a.asname or a.name] = self.tables[full]
                        imports.append(node)
                    elif node.module in self.tables and a.name in self.tables[node.module]:
                        names[a.asname or a.name] = self.tables[node.module][a.name]
                        imports.append(node)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in self.tables and a.asname:
                        modules[a.asname] = self.tables[a.name]
                        imports.append(node)
        if not modules and not names:
            return text, 0
        self._check_not_rebound(tree, set(modules) | set(names), name)
        edits, used = [], set()  # (line, col, end_col, literal); aliases still referenced after folding
        # Python before 3.12 reports wrong columns inside f-strings: references there stay as they are.
        in_fstring = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in in_fstring:
                continue
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and isinstance(node.ctx, ast.Load)):
                table = modules[node.value.id]
                if node.attr in table and node.lineno == node.end_lineno:
                    edits.append((node.lineno, node.col_offset, node.end_col_offset, table[node.attr]))
                    node.value.folded = True
            elif isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
                edits.append((node.lineno, node.col_offset, node.end_col_offset, names[node.id]))
                node.folded = True
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in modules and not getattr(node, "folded", False):
                used.add(node.id)
        lines = text.splitlines(keepends=True)
        raw = [ln.encode() for ln in lines]  # ast columns are UTF-8 byte offsets
        for lineno, col, end, value in sorted(edits, reverse=True):
            ln = raw[lineno - 1]
            literal = repr(value)
            after = ln[end:].lstrip()
            if isinstance(value, int) and (value < 0 or after.startswith(b".")):
                literal = "(%s)" % literal
            raw[lineno - 1] = ln[:col] + literal.encode() + ln[end:]
        for node in {id(n): n for n in imports}.values():
            keep = [a for a in node.names if self._keeps(node, a, modules, names, used)]
            if len(keep) == len(node.names):
                continue
            if node.lineno != node.end_lineno:
                continue  # a parenthesised multi-line import: leave it (rare; costs only the import)
            ln = raw[node.lineno - 1]
            indent = ln[:node.col_offset]
            tail = ln[node.end_col_offset:]
            if keep:
                stmt = ast.unparse(type(node)(**dict(ast.iter_fields(node), names=keep)))
            else:
                stmt = "pass"
            raw[node.lineno - 1] = indent + stmt.encode() + tail
        return b"".join(raw).decode(), len(edits)

    def _keeps(self, node, a, modules, names, used):
        bound = a.asname or (a.name if isinstance(node, ast.ImportFrom) else None)
        if isinstance(node, ast.ImportFrom):
            full = "%s.%s" % (node.module, a.name)
            if full in self.tables:
                return bound in used
            if node.module in self.tables and a.name in self.tables[node.module]:
                return False
            return True
        if a.name in self.tables and a.asname:
            return bound in used
        return True

    @staticmethod
    def _check_not_rebound(tree, aliases, name):
        for node in ast.walk(tree):
            bound = ()
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bound = (node.id,)
            elif isinstance(node, ast.arg):
                bound = (node.arg,)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound = (node.name,)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound = (node.name,)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                bound = node.names
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
                bound = [a.asname or a.name.split(".")[0] for a in node.names]
            for b in bound:
                if b in aliases:
                    raise ValueError("%s:%d: %r names a constant module (or constant) and is bound again here; "
                                     "rename one of them" % (name, getattr(node, "lineno", 0), b))


@functools.lru_cache(maxsize=8)
def _folder(root, stamp):
    return Folder(root)


def folder_for(root):
    """A Folder for the tree at root, re-read when its constant modules change."""
    root = Path(root).resolve()
    files = [root.joinpath(*m.split(".")).with_suffix(".py") for m in CONST_MODULES]
    return _folder(root, tuple(f.stat().st_mtime_ns for f in files))


def fold_file(src, root=None):
    """(folded text, references folded) for the firmware source src; the text unchanged outside a
    firmware tree."""
    text = Path(src).read_text()
    root = root or firmware_root(src)
    if root is None:
        return text, 0
    with _LOCK:
        return folder_for(root).fold(text, str(src))


def _short_names():
    chars = string.digits + string.ascii_lowercase + string.ascii_uppercase
    for n in itertools.count(1):
        for t in itertools.product(chars, repeat=n):
            yield "_" + "".join(t)


def _docstrings(tree):
    """ids of the docstring constants of a module, its classes and functions (not strings the code uses)."""
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _renamable(tree):
    """The private names a module binds that may take another name: a leading underscore (not a dunder),
    bound by an assignment or a def (module level, local, or an attribute of self); never a class (its
    name shows in messages), an argument or keyword (callers name them), an imported name, a word of a
    string (a getattr), an attribute set on another object, or an attribute or method of a class derived
    from another module's (which has its own short names). (names, string literals as (text, side): side
    "head" for the left operand of a +, "tail" for the right one, else None)."""
    docs = _docstrings(tree)
    bound, keep, strings = set(), set(), []
    sides = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides[id(node.left)] = "head"
            sides[id(node.right)] = "tail"
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    derived = set()  # classes with another module's class among their ancestors
    while True:
        more = {c.name for c in classes if any(not (isinstance(b, ast.Name) and b.id not in derived and (
            b.id in _BUILTIN_BASES or b.id in {k.name for k in classes})) for b in c.bases)}
        if more <= derived:
            break
        derived |= more
    for cls in classes:
        if cls.name in derived:
            for node in ast.walk(cls):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    keep.add(node.name)
                elif isinstance(node, ast.Attribute):
                    keep.add(node.attr)
                elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    keep.add(node.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                bound.add(node.attr)
            else:
                keep.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ClassDef):
            keep.add(node.name)
        elif isinstance(node, ast.arg):
            keep.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            keep.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                keep.update(a.name.split("."))
                keep.add(a.asname)
        elif isinstance(node, ast.JoinedStr):
            return set(), []  # an f-string's names are not tokens of their own before Python 3.12
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and id(node) not in docs:
            v = node.value
            strings.append((v if isinstance(v, str) else v.decode("latin-1"), sides.get(id(node))))
    names = {n for n in bound if n.startswith("_") and not n.startswith("__") and n != "_"}
    return names - keep, strings


def _public(tree):
    """The public names a module binds at its top level (a def, or an assignment to a bare name) and uses
    only as variables, never as an attribute of another object or a class's member (a built-in type's
    method may share the name): private in practice when no other source mentions them. Classes keep
    their names."""
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Assign):
            bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    keep = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            keep.add(node.attr)
        elif isinstance(node, ast.arg):
            keep.add(node.arg)
        elif isinstance(node, ast.keyword):
            keep.add(node.arg)
        elif isinstance(node, ast.ClassDef):
            keep.add(node.name)
            for member in node.body:  # a method's name may be what the runtime calls (write, readinto)
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    keep.add(member.name)
                elif isinstance(member, ast.Assign):
                    keep.update(t.id for t in member.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            keep.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            keep.update(node.names)
    return {n for n in bound - keep if not n.startswith("_")}


def _parameters(tree):
    """The argument names (not self) a module may rename: a call matches an argument by its name only
    when it passes it by keyword, so one no caller names that way is as private as a local. Never one
    the module also uses otherwise than as a variable: an attribute, a keyword, a word of a string, an
    import, a global or nonlocal, a class, a builtin, or a name bound at module or class level (another
    module may reach those); renaming is by token, so every use of it in the module changes together."""
    docs = _docstrings(tree)
    args = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)} - {"self"}
    keep = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            keep.add(node.attr)
        elif isinstance(node, ast.keyword):
            keep.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name == "*":
                    return set()  # the names it binds are not in the source
                keep.update(a.name.split("."))
                keep.add(a.asname)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            keep.update(node.names)
        elif isinstance(node, ast.ClassDef):
            keep.add(node.name)
        elif isinstance(node, ast.JoinedStr) or isinstance(node, ast.Name) and node.id in _BY_NAME:
            return set()  # an f-string's names are no tokens before Python 3.12; locals() & co. read them
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and id(node) not in docs:
            v = node.value
            keep.update(_WORD.findall(v if isinstance(v, str) else v.decode("latin-1")))
    scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for scope in scopes:
        todo = list(scope.body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                keep.add(node.name)
                continue  # its body is another scope
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                keep.add(node.id)
            todo.extend(ast.iter_child_nodes(node))
    return args - keep


def _named(text):
    """The words text may pass as keyword arguments (see _NAMED)."""
    return {a or b for a, b in _NAMED.findall(text)}


def _code_words(text):
    """The names and string words of a source's code (not its comments)."""
    out = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME:
            out.add(tok.string)
        elif tok.type == tokenize.STRING:
            out.update(_WORD.findall(tok.string))
    return out


def _read_sources(root):
    files = {f.relative_to(root).as_posix(): f.read_text() for f in sorted(root.rglob("*.py"))}
    mentions = [f.read_text() for d in MENTIONS for f in sorted((root.parent / d).rglob("*.py"))]
    return files, mentions


@functools.lru_cache(maxsize=4)
def _plan(root, stamp):
    files, mentions = _read_sources(root)
    words = {rel: set(_WORD.findall(text)) for rel, text in files.items()}
    said = {}  # word -> how many of the sources (firmware modules, mentions) have it
    for ws in list(words.values()) + [set(_WORD.findall(t)) for t in mentions]:
        for w in ws:
            said[w] = said.get(w, 0) + 1
    plan, parsed, trees = {}, {}, {}
    for rel, text in files.items():
        trees[rel] = ast.parse(text, rel)
        parsed[rel] = _renamable(trees[rel])
    # Names built at run time ("op_" + name, x + "_r", "%s_r" % x): a literal whose first run of
    # identifier characters could start a name ("op_") keeps the private names that start so, one whose
    # last run could end a name ("_r") those that end so. A run is what lies between the literal's ends
    # and its format fields; one with other characters ("%s_i rekeyed") is part of no name. What is
    # added after the left operand of a + ends the name, what comes before the right one starts it.
    heads, tails = set(), set()
    for _, strings in parsed.values():
        for s, side in strings:
            runs = _FORMAT_FIELD.split(s)
            for run, edge, other in ((runs[0], heads, "tail"), (runs[-1], tails, "head")):
                if (side != other and _PIECE.fullmatch(run) and run.strip("_")
                        and (run.startswith("_") or run.endswith("_"))):
                    edge.add(run)
    # Arguments: renamed where that pays (no other module has the word, so it is interned for this one
    # alone) and no other source may pass it by keyword (`name=`, or "name" for a ** dict).
    code = {rel: _code_words(text) for rel, text in files.items()}
    named = [_named(text) for text in list(files.values()) + mentions]
    # A private name several modules have, each only for itself (bound there, never an attribute of
    # another object, never in a string) and no test mentions, is renamed in each of them.
    tested = set().union(*[_WORD.findall(t) for t in mentions])
    own = {}  # word -> the modules where it is such a name
    for rel, text in files.items():
        names, strings = parsed[rel]
        foreign = {n.attr for n in ast.walk(trees[rel]) if isinstance(n, ast.Attribute)
                   and not (isinstance(n.value, ast.Name) and n.value.id == "self")}
        for n in names - foreign - {w for s, _ in strings for w in _WORD.findall(s)}:
            own.setdefault(n, set()).add(rel)
    apart = {n for n, rels in own.items() if n not in tested and sum(n in ws for ws in words.values()) == len(rels)}
    consts = {m.replace(".", "/") + ".py" for m in CONST_MODULES}
    for rel, text in files.items():
        names, strings = parsed[rel]
        if rel not in consts:  # their names are what the folder looks up
            names = names | _public(trees[rel])
        in_strings = {w for s, _ in strings for w in _WORD.findall(s)}
        names = {n for n in names if (said[n] == 1 or n in apart) and n not in in_strings
                 and not any(n.startswith(p) for p in heads) and not any(n.endswith(p) for p in tails)}
        others = [ws for r, ws in code.items() if r != rel]
        own = _named(text)
        names |= {a for a in _parameters(trees[rel])
                  if not any(a in ws for ws in others) and sum(a in ws for ws in named) == (a in own)}
        order = []
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string in names and tok.string not in order:
                order.append(tok.string)
        mapping, short = {}, _short_names()
        for n in order:
            new = next(short)
            while new in said:  # never a name someone wrote: a subclass elsewhere may use it
                new = next(short)
            mapping[n] = new
        if mapping:
            plan[rel] = mapping
    return plan


def private_names(root):
    """{module path inside the tree ("ike/sa.py"): {private name: short name}} for the firmware tree at
    root: the private names (see _renamable) that no other module of the tree, and nothing under
    MENTIONS beside it, mentions."""
    root = Path(root).resolve()
    files = [f for d in (root, *(root.parent / m for m in MENTIONS)) for f in d.rglob("*.py")]
    stamp = tuple(sorted((str(f), f.stat().st_mtime_ns) for f in files))
    with _LOCK:
        return _plan(root, stamp)


def shorten(text, names):
    """text with every name token in `names` ({old: new}) replaced, in place: lines stay where they were."""
    if not names:
        return text
    raw = text.splitlines(keepends=True)
    edits = [(t.start, t.end[1], names[t.string]) for t in tokenize.generate_tokens(io.StringIO(text).readline)
             if t.type == tokenize.NAME and t.string in names]
    for (line, col), end, new in sorted(edits, reverse=True):
        s = raw[line - 1]
        raw[line - 1] = s[:col] + new + s[end:]
    return "".join(raw)
