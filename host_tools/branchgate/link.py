"""The host end of the provisioning protocol (firmware/provision.py) over a serial port (pyserial).

A frame is one line of printable ASCII, `%BG1 <length: 4 hex> <crc32: 8 hex> <JSON payload>`, and '%'
never occurs in a payload, so frames are found among the device's log text and after line noise.
Requests go one at a time (the device's console input buffer is small), each with an id; a request
without a reply in time is sent again with the same id, and the device answers a repeated id from its
cache instead of running it twice.
"""
import json
import os
import random
import time
import zlib

PROTO = 1
MARK = b"%BG"
DEFAULT_MAX_IN = 256  # until hello says otherwise
BAUDRATE = 115200


class LinkError(Exception):
    """The device could not be reached or spoke garbage; the message is one line for the user."""


class DeviceError(LinkError):
    """The device answered a request with an error."""


class NoReply(LinkError):
    """No valid reply came in time (after the retries)."""


def encode(obj):
    """One frame (bytes) carrying obj as JSON."""
    payload = json.dumps(obj, separators=(",", ":"), ensure_ascii=True).replace("%", "\\u0025").encode()
    return b"%%BG%d %04x %08x " % (PROTO, len(payload), zlib.crc32(payload)) + payload + b"\n"


def decode(line):
    """The JSON object in a frame line (starting with MARK, without the newline), or None if the line
    is damaged; LinkError for another protocol version."""
    if line[3:4] != b"%d" % PROTO:
        if line[3:4].isdigit():
            raise LinkError("the device speaks provisioning protocol %s, this tool %d: update the tool "
                            "or the firmware" % (line[3:4].decode(), PROTO))
        return None
    payload = line[19:].rstrip(b"\r")
    try:
        if line[4:5] + line[9:10] + line[18:19] != b"   " or int(line[5:9], 16) != len(payload) \
                or int(line[10:18], 16) != zlib.crc32(payload):
            return None
        obj = json.loads(payload)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


class Reader:
    """Splits the byte stream from the device into frames and text lines (its console log)."""

    def __init__(self, on_text=None):
        self.buf = bytearray()
        self.on_text = on_text

    def feed(self, data):
        """-> the decoded frames in data (damaged ones dropped)."""
        frames = []
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > 1 << 20:  # no newline in a megabyte: not our device
                    del self.buf[:-4096]
                return frames
            line = bytes(self.buf[:nl])
            del self.buf[:nl + 1]
            start = line.rfind(MARK)
            if start < 0:
                if self.on_text is not None:
                    self.on_text(line.rstrip(b"\r").decode("utf-8", "replace"))
                continue
            if start > 0 and self.on_text is not None:
                self.on_text(line[:start].decode("utf-8", "replace"))
            obj = decode(line[start:])
            if obj is not None:
                frames.append(obj)


class Link:
    """Request/response with a device on `port` (a serial device path or a pyserial URL)."""

    def __init__(self, port, timeout=1.0, retries=5, on_text=None, baudrate=BAUDRATE):
        import serial
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.max_in = DEFAULT_MAX_IN
        self.next_id = random.randrange(1, 1 << 24)
        self.reader = Reader(on_text)
        self.sent = 0
        self.received = 0
        try:
            self.ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            why = os.strerror(e.errno) if isinstance(getattr(e, "errno", None), int) else e
            raise LinkError("cannot open %s: %s" % (port, why)) from None
        self.ser.reset_input_buffer()

    def close(self):
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write(self, data):
        try:
            self.ser.write(data)
            self.ser.flush()
        except Exception as e:  # pyserial raises SerialException (an OSError) for a vanished port
            raise LinkError("%s: write failed (cable unplugged?): %s" % (self.port, e)) from None
        self.sent += len(data)

    def _read(self):
        try:
            data = self.ser.read(self.ser.in_waiting or 1)
        except Exception as e:
            raise LinkError("%s: read failed (cable unplugged?): %s" % (self.port, e)) from None
        self.received += len(data)
        return data

    def request(self, op, timeout=None, retries=None, **args):
        """Send {op, args} and return the device's reply (dict); DeviceError if it refused,
        LinkError if no valid reply came after the retries."""
        rid = self.next_id
        self.next_id = self.next_id % (1 << 24) + 1
        frame = encode(dict(args, id=rid, op=op))
        if len(frame) > self.max_in + 1:
            raise LinkError("request %s too long for the device (%d bytes)" % (op, len(frame)))
        timeout = self.timeout if timeout is None else timeout
        for _ in range(1 + (self.retries if retries is None else retries)):
            self._write(frame)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for reply in self.reader.feed(self._read()):
                    if reply.get("id") != rid:
                        continue  # a late reply to an earlier request
                    if not reply.get("ok"):
                        raise DeviceError("device: %s" % reply.get("error", "unknown error"))
                    return reply
        raise NoReply("no reply from the device on %s to '%s' (is the branchgate firmware running "
                      "there?)" % (self.port, op))

    def hello(self, **kw):
        reply = self.request("hello", **kw)
        self.max_in = reply.get("max_in", DEFAULT_MAX_IN)
        return reply

    def settings(self):
        """The device's committed settings: {"generation", "fingerprint", "settings", "psk": {peer
        name: PSK fingerprint}} (the PSK itself never leaves the device)."""
        try:
            return self.request("settings")
        except DeviceError as e:
            if "unknown op" in str(e):
                raise DeviceError("the device's firmware cannot send its settings back (no 'settings' "
                                  "operation): update the firmware") from None
            raise

    def put(self, part, text, progress=None):
        """Send text for the staged part ("settings"/"secrets") in chunks that fit the device's
        frame limit; progress(done, total) after each."""
        off = 0
        while off < len(text):
            n = len(text) - off
            while len(encode({"id": self.next_id, "op": "put", "k": part, "o": off, "d": text[off:off + n]})) \
                    > self.max_in + 1:
                n = n * 3 // 4
            self.request("put", k=part, o=off, d=text[off:off + n])
            off += n
            if progress is not None:
                progress(off, len(text))

    def wait_hello(self, timeout, boot_not=None):
        """hello until the device answers (a different boot id than boot_not, if given)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.hello(retries=0, timeout=0.5)
                if boot_not is None or reply.get("boot") != boot_not:
                    return reply
            except NoReply:
                pass  # booting, or the hello was damaged on the line
            if time.monotonic() > deadline:
                raise NoReply("no answer from the device on %s within %.0f s (is the branchgate firmware "
                              "running there?)" % (self.port, timeout))
            time.sleep(0.1)

