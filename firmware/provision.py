# The provisioning protocol, device side: framed JSON requests and replies on the serial console,
# the same line that carries the log (the REPL is not the channel; production builds disable it).
#
# Frame (printable ASCII, one line; log text around frames is skipped):
#   %BG<version> <length: 4 hex> <crc32 of payload: 8 hex> <payload>\n
# The payload is a JSON object; '%' never occurs in it (escaped as \u0025), so every '%' starts a new
# frame candidate: garbage before or inside a frame costs that frame (its length or CRC fails), and
# the host retries. Host frames are at most MAX_IN bytes (an ESP32's console input buffer is 260), one
# at a time; replies may be longer.
# Request {"id": n, "op": ..., ...}; reply {"id": n, "ok": true, ...} or {"id": n, "ok": false,
# "error": "one line"}. A request repeating the last id gets the cached reply, not a second execution
# (a lost reply to "commit" is retried safely). Ops: hello, begin, put (settings / secrets text, in
# chunks at an offset), commit (validated by config.py, atomic, checked against the host's
# fingerprint), settings (the committed settings, read back), status, logs (cursor "since"), reboot,
# factory-reset. The PSK is write-only: replies carry only its fingerprint.
import binascii
import gc
import json
import os
import select
import sys
import time

import log

VERSION = "0.1.0"  # firmware version reported by hello
PROTO = 1
MAX_IN = 256  # longest frame taken, newline excluded
MAX_STAGE = 8192  # longest settings or secrets text staged (a few peers' worth)
MARK = b"%BG"
IDLE_MS = 60000  # a console quiet this long is done: main drops it and unloads this module (the host
#                  retries a request within seconds, and stages and commits in one go)

_LOG = log.Logger("provision")


def frame(payload):
    """bytes of one frame around payload (str, ASCII without '%')."""
    p = payload.encode()
    return b"%%BG%d %04x %08x " % (PROTO, len(p), binascii.crc32(p) & 0xFFFFFFFF) + p + b"\n"


def unframe(line):
    """The payload (str) of a frame line starting with MARK; None if damaged (line noise: the sender
    retries); ValueError for another protocol version."""
    if line[3:4] != b"%d" % PROTO:
        if line[3:4].isdigit():
            raise ValueError("protocol version %s not supported (device speaks %d)" % (line[3:4].decode(), PROTO))
        return None
    p = line[19:]
    if p[-1:] == b"\r":
        p = p[:-1]
    try:
        if line[4:5] + line[9:10] + line[18:19] != b"   " or int(line[5:9], 16) != len(p) or \
                int(line[10:18], 16) != binascii.crc32(p) & 0xFFFFFFFF:
            return None
        return p.decode()
    except (ValueError, UnicodeError):
        return None


def device_id(root):
    """The chip's MAC; the sim board makes a random locally administered one, kept in its root."""
    import machine
    if hasattr(machine, "unique_id"):
        raw = machine.unique_id()
    else:
        path = root + "/device_id"
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            raw = bytearray(os.urandom(6))
            raw[0] = (raw[0] & 0xFC) | 0x02
            with open(path, "wb") as f:
                f.write(raw)
    return ":".join(["%02x" % b for b in raw])


class Console:
    """The console in main's select.poll loop: handle() whenever it is readable (main registers
    sys.stdin, so this module is loaded only once someone talks). dev: main.Board when the tunnel
    side runs, None in console-only mode (safe mode, with `reason`)."""

    def __init__(self, poller, dev=None, root=".", reason=None, rx=None, tx=None):
        self.poller = poller
        self.dev = dev
        self.root = root
        self.reason = reason
        self.rx = rx or sys.stdin
        self.tx = tx or sys.stdout
        self.buf = bytearray()
        self.one = bytearray(1)
        self.ready = select.poll()
        self.ready.register(self.rx, select.POLLIN)
        self.closed = False
        self.last = None  # (id, reply bytes) of the last request
        self.stage = {"settings": "", "secrets": ""}
        self.heard = time.ticks_ms()  # when the console last had something for us

    def register(self):
        self.poller.register(self.rx, select.POLLIN)

    def handle(self, limit=512):
        """Take what the console has (up to limit bytes); at EOF the console leaves the loop."""
        rx = self.rx.buffer if hasattr(self.rx, "buffer") else self.rx
        self.heard = time.ticks_ms()
        for _ in range(limit):
            if not self.ready.poll(0):
                return
            if not rx.readinto(self.one):
                self.closed = True
                self.poller.unregister(self.rx)
                return
            self.feed(self.one[0])

    def idle(self):
        """Quiet for IDLE_MS: the session is over, and what it left (a part-read frame, the staged
        text, the reply cache) can go with this module's code."""
        return time.ticks_diff(time.ticks_ms(), self.heard) >= IDLE_MS

    def feed(self, b):
        """One byte from the line: '%' starts a frame candidate, '\n' ends it."""
        buf = self.buf
        if b == 0x25:
            buf[:] = b"%"
        elif not buf:
            return
        elif b == 0x0A:
            line = bytes(buf)
            buf[:] = b""
            if line.startswith(MARK):
                self.request(line)
        elif len(buf) >= MAX_IN:
            buf[:] = b""  # too long for a frame: line noise or log text
        else:
            buf.append(b)

    def request(self, line):
        """Answer one frame line (damaged: dropped)."""
        rid = None
        after = None
        try:
            payload = unframe(line)
            if payload is None:
                return
            req = json.loads(payload)
            if not isinstance(req, dict):
                raise ValueError("request is not an object")
            rid = req.get("id")
            if self.last is not None and rid is not None and rid == self.last[0]:
                self.tx.write(self.last[1])  # our reply was lost: the same again, not a second run
                return
            op = req.get("op", "")
            fn = getattr(self, "op_" + op.replace("-", "_"), None)
            if fn is None:
                raise ValueError("unknown op '%s'" % op)
            reply = fn(req)
            after = reply.pop("_after", None)
            reply["ok"] = True
        except ValueError as e:  # bad frame, bad request, config.ConfigError
            reply = {"ok": False, "error": str(e)}
        except MemoryError:
            gc.collect()
            reply = {"ok": False, "error": "out of memory (heap free %d)" % gc.mem_free()}
        except OSError as e:
            reply = {"ok": False, "error": "storage error %s" % e}
        except Exception as e:  # a malformed request (wrong types); the name only, never values
            reply = {"ok": False, "error": "bad request (%s)" % type(e).__name__}
        reply["id"] = rid
        out = frame(json.dumps(reply).replace("%", "\\u0025"))
        self.last = (rid, out)
        self.tx.write(out)
        if after is not None:
            after()

    # ---- ops ----

    def _config(self):
        """(generation, fingerprint, error) of the configuration in use, or of the stored one."""
        b = self.dev
        if b is not None:
            return b.cfg.generation, b.cfg.fingerprint, None
        import config
        try:
            c = config.load(self.root)
            return c.generation, c.fingerprint, None
        except config.NotProvisioned:
            return 0, None, None
        except ValueError as e:
            return 0, None, str(e)

    def op_hello(self, req):
        import health
        gen, fp, err = self._config()
        return {"proto": PROTO, "device": device_id(self.root), "fw": VERSION, "boot": health.BOOT_ID,
                "mode": "console" if self.dev is None else "run", "reason": self.reason,
                "generation": gen, "fingerprint": fp, "config_error": err, "max_in": MAX_IN}

    def op_begin(self, req):
        self.stage = {"settings": "", "secrets": ""}
        return {}

    def op_put(self, req):
        k = req.get("k")
        if k not in self.stage:
            raise ValueError("put: unknown part")
        cur = self.stage[k]
        off = req.get("o", -1)
        if not 0 <= off <= len(cur):
            raise ValueError("put: offset %d, have %d" % (off, len(cur)))
        cur = cur[:off] + req.get("d", "")
        if len(cur) > MAX_STAGE:
            raise ValueError("put: more than %d characters" % MAX_STAGE)
        self.stage[k] = cur
        return {"n": len(cur)}

    def op_commit(self, req):
        st = self.stage
        self.stage = {"settings": "", "secrets": ""}
        try:
            settings = json.loads(st["settings"])
            secrets = json.loads(st["secrets"])
        except ValueError:  # never the text: the secrets are in it
            raise ValueError("commit: staged settings or secrets are not JSON")
        del st
        gc.collect()
        import config
        try:
            cfg = config.validate(settings, secrets)
            if cfg.fingerprint != req.get("fp"):
                raise ValueError("commit: fingerprint %s is not the host's (damaged transfer?)" % cfg.fingerprint)
            cfg = config.save(self.root, settings, secrets)
            psk = {}
            for p in cfg.peers:
                psk[p.name] = config.psk_fingerprint(p.psk)
        finally:
            if self.dev is not None:  # as main does after boot: the store's code is a third of the heap
                del sys.modules["config"]
        _LOG.info("committed generation %d, fingerprint %s" % (cfg.generation, cfg.fingerprint))
        return {"generation": cfg.generation, "fingerprint": cfg.fingerprint, "psk": psk}

    def op_settings(self, req):
        """The committed settings as stored (config.read) and each peer's PSK fingerprint, never the
        PSK. One reply: settings are at most MAX_STAGE characters, the frame's length field takes 64K."""
        import config
        try:
            settings, secrets, gen = config.read(self.root)
            psks = {}
            for name in secrets["psk"]:
                psks[name] = binascii.unhexlify(secrets["psk"][name])
            del secrets
            fp = config.fingerprint(settings, psks)
            for name in psks:
                psks[name] = config.psk_fingerprint(psks[name])
        finally:
            if self.dev is not None:  # as after a commit: keep the heap for the tunnel
                del sys.modules["config"]
        return {"generation": gen, "fingerprint": fp, "settings": settings, "psk": psks}

    def op_status(self, req):
        import health
        out = health.status()
        out["generation"], out["fingerprint"], out["config_error"] = self._config()
        out["mode"] = "console" if self.dev is None else "run"
        errors = []
        for line in log.recent(0)[1]:
            if line.startswith("ERROR") or line.startswith("WARN"):
                errors.append(line)
        out["errors"] = errors[-5:]
        return out

    def op_logs(self, req):
        nxt, lines = log.recent(req.get("since", 0))
        return {"next": nxt, "lines": lines}

    def op_reboot(self, req):
        _LOG.info("reboot requested over the console")
        return {"_after": self._restart}

    def op_factory_reset(self, req):
        import config
        config.erase(self.root)
        _LOG.warn("factory reset: configuration erased")
        return {"_after": self._restart}

    def _restart(self):
        import board
        import recovery
        recovery.healthy()  # a requested restart is no crash
        b = self.dev
        if b is not None:  # tell the peers, as on a graceful shutdown
            b.responder.shutdown()
        if not board.SIM:
            time.sleep_ms(100)  # let the console send the reply first
        board.restart()


def serve(root, reason, stop_fd=None):
    """Console-only mode (safe mode: not provisioned, a crash loop, the button): answer the
    provisioning protocol until reset, or until a byte on the board's stop line (stop_fd, as in
    main.Board; then 0). If the console closes (the unix port's stdin at EOF) the sim board idles."""
    poller = select.poll()
    c = Console(poller, None, root, reason)
    c.register()
    stop = select.poll()  # the stop line alone, for when the console is closed
    if stop_fd is not None:
        poller.register(stop_fd, select.POLLIN)
        stop.register(stop_fd, select.POLLIN)
    while True:
        for ev in stop.poll(1000) if c.closed else poller.poll(1000):
            if ev[0] == stop_fd:
                return 0
            c.handle()
