"""`branchgate check`: the field and hardware-in-the-loop smoke test of a branch device. A minimal IKEv2
INITIATOR (RFC 7296) with a pre-shared key negotiates an IKE SA and a CHILD SA with the device, sends
ICMP echo requests through ESP-in-UDP (RFC 4303, RFC 3948) to the device's own address, reports the
round-trip times and the negotiated algorithms, then deletes its SAs.

The message codec is the firmware's (ike/message.py: encoding is not where interoperability bugs
hide, and a second codec would be duplicate code); all cryptography is independent of the firmware
(branchgate.ikecrypto: `cryptography`, hmac, hashlib). Like strongSwan's `encap = yes`, the check
sends a NAT_DETECTION_SOURCE_IP that cannot match, so the device sees a NAT and both sides float to
UDP 4500 and encapsulate ESP -- the only ESP the device and strongSwan's kernel-libipsec carry.

It does not send INITIAL_CONTACT: checking with the head office's identity must not make the device
drop the head office's live tunnel."""
import argparse
import hashlib
import hmac
import os
import select
import socket
import struct
import time

from . import ikecrypto
from .cli import CliError
from .fwimport import firmware_module
from .provision import read_psk

C = firmware_module("ike.const")
M = firmware_module("ike.message")
P = firmware_module("ike.proposal")

IKE_PORT = 500
NATT_PORT = 4500
NON_ESP_MARKER = b"\0\0\0\0"
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4  # ESP next header of a tunnelled IPv4 packet
ICMP_ECHO, ICMP_ECHOREPLY = 8, 0
ECHO_PAYLOAD = 56
_SUPPORTED = {C.TRANS_ENCR: (C.ENCR_AES_CBC,), C.TRANS_INTEG: (C.AUTH_HMAC_SHA2_256_128,),
              C.TRANS_PRF: (C.PRF_HMAC_SHA2_256,), C.TRANS_DH: (C.MODP_2048, C.ECP_256, C.CURVE25519),
              C.TRANS_ESN: (C.NO_ESN,)}
_FAILURES = {  # other error notifies -> what they mean, in a network engineer's words
    C.INVALID_SYNTAX: "the device found our message malformed (INVALID_SYNTAX)",
    C.TEMPORARY_FAILURE: "the device is busy (TEMPORARY_FAILURE); try again",
    C.NO_ADDITIONAL_SAS: "the device takes no more SAs (NO_ADDITIONAL_SAS)",
    C.UNSUPPORTED_CRITICAL_PAYLOAD: "the device does not support a payload we sent",
}


def _notify_name(n):
    for k in dir(C):
        if getattr(C, k) == n and k.isupper() and not k.startswith(("PT_", "TRANS_", "ENCR_", "AUTH_", "PRF_")):
            return k
    return "notify %d" % n


def _ip(text):
    try:
        return socket.inet_aton(text) if text.count(".") == 3 else None
    except OSError:
        return None


def _ip_arg(text):
    if _ip(text) is None:
        raise argparse.ArgumentTypeError("not an IPv4 address: %r" % text)
    return text


def _proposals(texts, protocol):
    """strongSwan proposal strings -> message.Proposal list (DH dropped for ESP: the first CHILD SA
    never has a key exchange), refusing what the check cannot compute."""
    try:
        specs = P.parse_list(texts, protocol)
    except P.ProposalError as e:
        option = "--ike-proposal" if protocol == C.PROTO_IKE else "--esp-proposal"
        raise CliError(str(e).replace("ike_proposals", option).replace("esp_proposals", option)) from None
    out = []
    for spec in specs:
        t = [M.Transform(C.TRANS_ENCR, i, kl) for i, kl in spec.encr]
        if protocol == C.PROTO_IKE:
            t += [M.Transform(C.TRANS_PRF, i) for i in spec.prf]
        t += [M.Transform(C.TRANS_INTEG, i) for i in spec.integ]
        if protocol == C.PROTO_IKE:
            t += [M.Transform(C.TRANS_DH, i) for i in spec.dh]
        else:
            t += [M.Transform(C.TRANS_ESN, i) for i in spec.esn]
        for x in t:
            if x.id not in _SUPPORTED[x.type]:
                raise CliError("the check cannot use %s (it does AES-CBC, SHA-256, groups 14/19/31)"
                               % P.describe(M.Proposal(1, protocol, b"", [x])))
        out.append(M.Proposal(len(out) + 1, protocol, b"", t))
    return out


def _chosen(sa_payload, protocol):
    """The single proposal of the device's SA payload -> (proposal, {transform type: Transform})."""
    if sa_payload is None or len(sa_payload.proposals) != 1:
        raise CliError("the device's answer has no single chosen proposal")
    p = sa_payload.proposals[0]
    got = {t.type: t for t in p.transforms}
    if p.protocol != protocol or C.TRANS_ENCR not in got or C.TRANS_INTEG not in got:
        raise CliError("the device chose an incomplete proposal: %s" % P.describe(p))
    return p, got


def _selector(ip):
    return M.Selector(C.TS_IPV4_ADDR_RANGE, 0, 0, 65535, ip, ip)


def _describe_ts(selectors):
    out = []
    for s in selectors:
        lo, hi = int.from_bytes(s.start_addr, "big"), int.from_bytes(s.end_addr, "big")
        size = hi - lo + 1
        plen = 32 - (size.bit_length() - 1)
        if size & (size - 1) == 0 and lo % size == 0:
            out.append("%s/%d" % (socket.inet_ntoa(s.start_addr), plen))
        else:
            out.append("%s-%s" % (socket.inet_ntoa(s.start_addr), socket.inet_ntoa(s.end_addr)))
    return ",".join(out)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_packet(src, dst, ident, seq, payload):
    """An IPv4 ICMP echo request, header checksums filled in."""
    icmp = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, IPPROTO_ICMP, 0, src, dst)
    return hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:] + icmp


def echo_reply_of(packet, src, ident, seq, payload):
    """Is this inner IPv4 packet the reply from `src` to our echo (ident, seq, payload)?"""
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != IPPROTO_ICMP or packet[12:16] != src:
        return False
    icmp = packet[(packet[0] & 0x0F) * 4:]
    if len(icmp) < 8 or _checksum(icmp) != 0:
        return False
    typ, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
    return typ == ICMP_ECHOREPLY and rid == ident and rseq == seq and icmp[8:] == payload


class Session:
    """One check run against host: the UDP sockets, the IKE SA's state and the CHILD SA."""

    def __init__(self, host, psk, our_id, remote_id, timeout, out):
        self.host = host
        self.host_ip = _ip(host)
        self.psk = psk
        self.our_id = our_id
        self.remote_id = remote_id
        self.timeout = timeout
        self.out = out
        self.natt = False
        self.spi_i = os.urandom(8)
        self.spi_r = bytes(8)
        self.next_id = 0
        self.keys = None
        self.authenticated = False
        self.esp = None
        self.socks = {}
        for port in (IKE_PORT, NATT_PORT):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.connect((host, port))
            except OSError as e:
                raise CliError("cannot reach %s: %s" % (host, e.strerror or e)) from None
            self.socks[port] = s
        self.local = self.socks[IKE_PORT].getsockname()

    def close(self):
        for s in self.socks.values():
            s.close()

    # ---- datagrams ----

    def _port(self):
        return NATT_PORT if self.natt else IKE_PORT

    def _send_ike(self, data):
        s = self.socks[self._port()]
        s.send(NON_ESP_MARKER + data if self.natt else data)

    def _receive(self, wait):
        """One datagram from the active socket within `wait` seconds: ("ike", bytes) / ("esp", bytes),
        or None."""
        s = self.socks[self._port()]
        if not select.select([s], [], [], max(wait, 0))[0]:
            return None
        try:
            data = s.recv(65535)
        except ConnectionRefusedError:  # ICMP port unreachable: nothing listens there
            raise CliError("no IKE responder at %s:%d (port unreachable)" % (self.host, self._port())) from None
        if not self.natt:
            return "ike", data
        if data[:4] == NON_ESP_MARKER:
            return "ike", data[4:]
        return ("esp", data) if len(data) > 1 else ("keepalive", data)

    def request(self, exchange, payloads, encrypted=True):
        """Send a request and wait for its response, retransmitting (1 s, doubling) until the
        timeout -> (response Message, inner payloads, raw request bytes, raw response bytes)."""
        msg_id = self.next_id
        self.next_id += 1
        msg = M.Message(self.spi_i, self.spi_r, exchange, C.FLAG_INITIATOR, msg_id, payloads)
        data = self._seal(msg) if encrypted else msg.encode()
        deadline = time.monotonic() + self.timeout
        wait = 1.0
        while True:
            self._send_ike(data)
            until = min(time.monotonic() + wait, deadline)
            while True:
                got = self._receive(until - time.monotonic())
                if got is None:
                    break
                kind, raw = got
                if kind != "ike":
                    continue
                resp = self._decode(raw)
                if resp is None:
                    continue
                if resp.is_response and resp.msg_id == msg_id and resp.spi_i == self.spi_i:
                    inner = self._open(raw, resp) if encrypted else resp.payloads
                    return resp, inner, data, raw
                if not resp.is_response and self.keys is not None:
                    self._answer(raw, resp)
            if time.monotonic() >= deadline:
                raise CliError("no answer from %s:%d" % (self.host, self._port()))
            wait *= 2

    def _decode(self, raw):
        try:
            return M.decode(raw)
        except M.ParseError:
            return None

    def _seal(self, msg):
        first, inner = M.encode_payloads(msg.payloads)
        body = self.keys.tx.encrypt(inner)
        sealed = M.Message(msg.spi_i, msg.spi_r, msg.exchange, msg.flags, msg.msg_id,
                           [M.Encrypted(first, body)]).encode()
        return sealed[:-ikecrypto.ICV_LEN] + self.keys.tx.icv(sealed)

    def _open(self, raw, msg):
        enc = msg.payloads[-1] if msg.payloads else None
        if not isinstance(enc, M.Encrypted):
            # unprotected answer to IKE_AUTH: only an error notify may come like that
            return msg.payloads
        try:
            return M.decode_payloads(enc.inner_type, self.keys.rx.decrypt(raw, enc.body))[0]
        except (ikecrypto.IntegrityError, M.ParseError) as e:
            raise CliError("the device's reply fails its integrity check (%s): the IKE keys differ" % e) from None

    def _answer(self, raw, req):
        """Answer the device's INFORMATIONAL requests (liveness checks, DELETE) while we wait."""
        try:
            payloads = self._open(raw, req)
        except CliError:
            return
        resp = M.Message(self.spi_i, self.spi_r, req.exchange, C.FLAG_INITIATOR | C.FLAG_RESPONSE, req.msg_id, [])
        self._send_ike(self._seal(resp))
        if any(isinstance(p, M.Delete) for p in payloads):
            raise CliError("the device deleted the SA during the check")

    # ---- exchanges ----

    def ike_sa_init(self, proposals):
        groups = [t.id for p in proposals for t in p.transforms if t.type == C.TRANS_DH]
        group = groups[0]
        cookie = None
        for _ in range(3):  # at most one INVALID_KE_PAYLOAD and one COOKIE round trip
            self.kex = ikecrypto.KeyExchange(group)
            self.ni = os.urandom(32)
            dst = hashlib.sha1(self.spi_i + bytes(8) + self.host_ip + struct.pack("!H", IKE_PORT)).digest()
            payloads = [M.Sa(proposals), M.Ke(group, self.kex.public), M.Nonce(self.ni),
                        M.Notify(0, b"", C.NAT_DETECTION_SOURCE_IP, os.urandom(20)),  # forces UDP encap
                        M.Notify(0, b"", C.NAT_DETECTION_DESTINATION_IP, dst)]
            if cookie is not None:
                payloads.insert(0, M.Notify(0, b"", C.COOKIE, cookie))
            self.next_id = 0
            t0 = time.monotonic()
            resp, _, req, raw = self.request(C.IKE_SA_INIT, payloads, encrypted=False)
            elapsed = time.monotonic() - t0
            n = resp.notify(C.COOKIE)
            if n is not None and cookie is None:
                cookie = bytes(n.data)
                continue
            n = resp.notify(C.INVALID_KE_PAYLOAD)
            if n is not None and len(n.data) == 2:
                want = int.from_bytes(bytes(n.data), "big")
                if want == group or want not in groups:
                    raise CliError("proposal mismatch: the device wants DH group %d, we offer %s"
                                   % (want, ", ".join(map(str, groups))))
                group = want
                continue
            self._fail_on_error(resp.payloads, "IKE_SA_INIT", proposals)
            break
        else:
            raise CliError("IKE_SA_INIT did not converge (COOKIE / INVALID_KE_PAYLOAD loop)")
        p, got = _chosen(resp.get(M.Sa), C.PROTO_IKE)
        ke, nonce = resp.get(M.Ke), resp.get(M.Nonce)
        if ke is None or nonce is None or ke.group != group:
            raise CliError("the device's IKE_SA_INIT answer lacks KE/Nonce or uses another group")
        self.spi_r = resp.spi_r
        gir = self.kex.shared(ke.data)
        encr = got[C.TRANS_ENCR]
        self.ike_alg = P.describe(p)
        self.nr = bytes(nonce.data)
        keys = ikecrypto.IkeKeys(self.ni, self.nr, gir, self.spi_i, self.spi_r, encr.keylen // 8)
        keys.tx = ikecrypto.SkDirection(keys.sk_ei, keys.sk_ai)
        keys.rx = ikecrypto.SkDirection(keys.sk_er, keys.sk_ar)
        self.keys = keys
        self.init_req, self.init_resp = req, raw
        if resp.notify(C.NAT_DETECTION_DESTINATION_IP) is None:
            raise CliError("the device does not do NAT traversal (no NAT-D in its reply); the check "
                           "needs UDP-encapsulated ESP")
        self.natt = True  # RFC 7296 2.23: float to 4500 once a NAT is detected (ours, faked)
        self.out("IKE_SA_INIT with %s:%d: %s (%.1f ms), NAT-T: IKE and ESP on UDP 4500" % (
            self.host, IKE_PORT, self.ike_alg, elapsed * 1000))

    def ike_auth(self, esp_proposals, tsi, tsr):
        config = firmware_module("config")
        me = config.Identity(self.our_id)
        self.spi_in = struct.pack("!I", int.from_bytes(os.urandom(4), "big") | 0x100)  # never 0..255
        props = [M.Proposal(p.num, p.protocol, self.spi_in, p.transforms) for p in esp_proposals]
        payloads = [M.IdI(me.type, me.data)]
        if self.remote_id:
            peer = config.Identity(self.remote_id)
            payloads.append(M.IdR(peer.type, peer.data))
        payloads += [M.Auth(C.SHARED_KEY_MESSAGE_INTEGRITY_CODE,
                            ikecrypto.psk_auth(self.psk, self.init_req, self.nr, self.keys.sk_pi, me.type, me.data)),
                     M.Sa(props), M.TsI([_selector(tsi)]), M.TsR([_selector(tsr)])]
        t0 = time.monotonic()
        _, inner, _, _ = self.request(C.IKE_AUTH, payloads)
        elapsed = time.monotonic() - t0
        if any(isinstance(p, M.Notify) and p.notify_type == C.AUTHENTICATION_FAILED for p in inner):
            raise CliError("authentication failed: the device rejected our AUTH (wrong PSK? or it does "
                           "not know --id %s)" % self.our_id)
        idr = next((p for p in inner if isinstance(p, M.IdR)), None)
        auth = next((p for p in inner if isinstance(p, M.Auth)), None)
        if idr is None or auth is None:
            self._fail_on_error(inner, "IKE_AUTH", props)
            raise CliError("the device's IKE_AUTH answer has no IDr/AUTH")
        expect = ikecrypto.psk_auth(self.psk, self.init_resp, self.ni, self.keys.sk_pr, idr.id_type, idr.data)
        if auth.method != C.SHARED_KEY_MESSAGE_INTEGRITY_CODE or not hmac.compare_digest(
                bytes(auth.data), expect):
            raise CliError("the device's AUTH does not verify: wrong PSK?")
        self.authenticated = True
        if self.remote_id:
            want = config.Identity(self.remote_id)
            if not want.matches(idr.id_type, idr.data):
                raise CliError("the device authenticated as %r, not --remote-id %s"
                               % (bytes(idr.data).decode(errors="replace"), self.remote_id))
        self.peer_id = bytes(idr.data).decode(errors="replace") if idr.id_type != C.ID_IPV4_ADDR \
            else socket.inet_ntoa(bytes(idr.data))
        self.out("IKE_AUTH as %s: device %s authenticated with the PSK (%.1f ms)" % (
            self.our_id, self.peer_id, elapsed * 1000))
        sa = next((p for p in inner if isinstance(p, M.Sa)), None)
        if sa is None:
            self._fail_on_error(inner, "the CHILD SA", props, tsi, tsr)
            raise CliError("the device established the IKE SA but no CHILD SA")
        p, got = _chosen(sa, C.PROTO_ESP)
        encr = got[C.TRANS_ENCR]
        if (encr.id, got[C.TRANS_INTEG].id) != (C.ENCR_AES_CBC, C.AUTH_HMAC_SHA2_256_128) or len(p.spi) != 4:
            raise CliError("the device chose an ESP proposal we did not offer: %s" % P.describe(p))
        ts_i = next((x for x in inner if isinstance(x, M.TsI)), None)
        ts_r = next((x for x in inner if isinstance(x, M.TsR)), None)
        self.esp_alg = P.describe(p)
        self.ts = (_describe_ts(ts_i.selectors) if ts_i else "?", _describe_ts(ts_r.selectors) if ts_r else "?")
        ei, ai, er, ar = ikecrypto.child_keys(self.keys.sk_d, self.ni, self.nr, encr.keylen // 8)
        self.esp = ikecrypto.EspSa(self.spi_in, bytes(p.spi), er, ar, ei, ai)
        self.out("CHILD SA %s_i %s_o: %s, %s === %s, UDP-encapsulated" % (
            self.spi_in.hex(), bytes(p.spi).hex(), self.esp_alg, self.ts[0], self.ts[1]))

    def _fail_on_error(self, payloads, what, proposals, tsi=None, tsr=None):
        for p in payloads:
            if not isinstance(p, M.Notify) or p.notify_type > C.NOTIFY_ERROR_MAX:
                continue
            t = p.notify_type
            if t == C.NO_PROPOSAL_CHOSEN:
                raise CliError("proposal mismatch in %s: the device accepts none of %s"
                               % (what, P.describe_proposals(proposals)))
            if t == C.TS_UNACCEPTABLE:
                raise CliError("TS_UNACCEPTABLE: the device does not allow %s/32 === %s/32 (see its selectors; "
                               "use --inner-addr / --target)" % (socket.inet_ntoa(tsi), socket.inet_ntoa(tsr)))
            raise CliError("%s refused: %s" % (what, _FAILURES.get(t, _notify_name(t))))

    def ping(self, src, dst, count, interval):
        """ICMP echo through the tunnel -> list of RTTs in ms (None = lost)."""
        ident = os.getpid() & 0xFFFF
        rtts = []
        for seq in range(1, count + 1):
            payload = struct.pack("!d", time.time()) + bytes(range(ECHO_PAYLOAD - 8))
            sock = self.socks[NATT_PORT]
            t0 = time.monotonic()
            sock.send(self.esp.seal(echo_packet(src, dst, ident, seq, payload)))
            rtt = None
            deadline = t0 + interval
            while rtt is None:
                got = self._receive(deadline - time.monotonic())
                if got is None:
                    break
                kind, raw = got
                if kind == "ike":
                    msg = self._decode(raw)
                    if msg is not None and not msg.is_response:
                        self._answer(raw, msg)
                elif kind == "esp":
                    try:
                        nh, inner = self.esp.open(raw)
                    except ikecrypto.IntegrityError:
                        continue
                    if nh == IPPROTO_IPIP and echo_reply_of(inner, dst, ident, seq, payload):
                        rtt = (time.monotonic() - t0) * 1000
            rtts.append(rtt)
            self.out("echo %s seq=%d: %s" % (socket.inet_ntoa(dst), seq,
                                              "%.2f ms" % rtt if rtt is not None else "no reply"))
            if rtt is not None and seq < count:
                time.sleep(max(0.0, min(0.2, deadline - time.monotonic())))
        return rtts

    def delete(self):
        """DELETE of the IKE SA (its CHILD SA goes with it)."""
        self.timeout = min(self.timeout, 3.0)
        try:
            self.request(C.INFORMATIONAL, [M.Delete(C.PROTO_IKE, [])])
        except CliError as e:
            self.out("DELETE not confirmed (%s)" % e)
            return False
        self.out("IKE SA deleted")
        return True


def summary(rtts):
    got = [r for r in rtts if r is not None]
    line = "%d sent, %d received" % (len(rtts), len(got))
    if got:
        line += ", rtt min/avg/max %.2f/%.2f/%.2f ms" % (min(got), sum(got) / len(got), max(got))
    return line


def run(args):
    psk = read_psk(args.psk_file)
    config = firmware_module("config")
    for opt, value in (("--id", args.id), ("--remote-id", args.remote_id)):
        if value is not None:
            try:
                config.Identity(value)
            except ValueError as e:
                raise CliError("%s '%s' %s" % (opt, value, e)) from None
    ike = _proposals(args.ike_proposal or P.DEFAULT_IKE, C.PROTO_IKE)
    esp = _proposals(args.esp_proposal or P.DEFAULT_ESP, C.PROTO_ESP)

    def out(line):
        print(line, flush=True)

    s = Session(args.host, psk, args.id, args.remote_id, args.timeout, out)
    try:
        s.ike_sa_init(ike)
        inner_src = _ip(args.inner_addr or s.local[0])
        target = _ip(args.target or args.host)
        s.ike_auth(esp, inner_src, target)
        rtts = s.ping(inner_src, target, args.count, args.interval) if args.count else []
    except BaseException:
        if s.authenticated:  # leave nothing behind on the device (a CHILD SA failure, Ctrl-C)
            s.delete()
        s.close()
        raise
    if rtts:
        out(summary(rtts))
    s.delete()
    s.close()
    lost = sum(1 for r in rtts if r is None)
    if lost:
        raise CliError("%d of %d echo requests through the tunnel got no reply" % (lost, len(rtts)))
    return 0


def register(subparsers):
    p = subparsers.add_parser("check", help="bring up a test tunnel to a device and ping through it",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--host", required=True, type=_ip_arg, metavar="ADDR", help="the device's WAN address")
    p.add_argument("--psk-file", required=True, metavar="FILE", help="the PSK (file, or - for stdin)")
    p.add_argument("--id", required=True, metavar="ID", help="our identity: one the device has as a peer")
    p.add_argument("--remote-id", metavar="RID", help="the device's identity (sent as IDr and checked)")
    p.add_argument("--ike-proposal", action="append", metavar="PROPOSAL",
                   help="IKE proposal in strongSwan syntax (repeatable; default: the device's defaults)")
    p.add_argument("--esp-proposal", action="append", metavar="PROPOSAL",
                   help="ESP proposal in strongSwan syntax (repeatable; default: the device's defaults)")
    p.add_argument("--inner-addr", type=_ip_arg, metavar="ADDR",
                   help="our address inside the tunnel (TSi, ping source; default: our WAN address). "
                        "It must be inside the device's remote selectors, e.g. a head-office address")
    p.add_argument("--target", type=_ip_arg, metavar="ADDR",
                   help="the device address to ping through the tunnel (TSr; default: --host). "
                        "Use the device's LAN address when its selectors are its LAN")
    p.add_argument("--count", type=int, default=3, metavar="N", help="echo requests (default 3; 0 = none)")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="wait for each reply (default 1 s)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="give up on an exchange after S seconds (default 10)")
    p.set_defaults(func=run)
