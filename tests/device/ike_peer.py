# A scripted IKEv2 initiator (the head office's side) for driving the responder under MicroPython:
# it builds requests with the codec and the same crypto primitives, and checks the responses
# independently of the responder's code (its own key schedule and AUTH computation from RFC 7296).
import os

import config
import cryptolib
import log
from crypto import dh
from crypto.hmac import hmac_sha256
from ike import const
from ike import keys
from ike import message
from ike import proposal
from ike import responder
from ike import sk
from ike import ts
from ipsec import sad as sad_mod
from net import addr

PSK = b"correct horse battery staple 42"
HQ = addr.make(addr.parse_ip("10.99.0.1"), 500)
HQ_NATT = addr.make(addr.parse_ip("10.99.0.1"), 4500)


def settings(**peer_over):
    peer = {"name": "hq", "id": "hq.example.net", "ike_proposals": ["aes256-sha256-modp2048", "aes128-sha256-x25519"],
            "esp_proposals": ["aes256-sha256", "aes128-sha256-modp2048"], "local_ts": ["10.20.1.0/24"],
            "remote_ts": ["10.10.1.0/24"], "dpd_delay": 0}
    limits = peer_over.pop("limits", None)
    timers = peer_over.pop("timers", None)
    peer.update(peer_over)
    s = {"id": "branch.example.net", "wan": {"addr": "10.99.0.2/24"}, "peers": [peer], "log_level": "debug"}
    if limits:
        s["limits"] = limits
    if timers:
        s["timers"] = timers
    return s


def make_config(**peer_over):
    return config.validate(settings(**peer_over), {"psk": {"hq": "".join(["%02x" % b for b in PSK])}})


class FakeWan:
    def __init__(self):
        self.local500 = addr.make(addr.parse_ip("10.99.0.2"), 500)
        self.local4500 = addr.make(addr.parse_ip("10.99.0.2"), 4500)
        self.sent = []  # (data, remote, natt)

    def local(self, natt):
        return self.local4500 if natt else self.local500

    def send_ike(self, data, remote, natt):
        self.sent.append((bytes(data), remote, natt))

    def pop(self):
        assert self.sent, "responder sent nothing"
        return self.sent.pop(0)


class FakeSadEntry:
    count = sad_mod.Sa.count  # the SAD's own reading of the counter slots

    def __init__(self, args):
        self.args = args
        self.c = [0] * (sad_mod.BASE + sad_mod.TRAFFIC)  # the slots of ipsec/sad.py Sa.c the responder reads
        self.peer = args["peer"]
        self.spi_in = args["spi_in"]

    @property
    def counters(self):
        return {"packets_in": self.count(sad_mod.PACKETS_IN)}


class FakeSad:
    """Holds what the responder installs, for inspection (the ESP engine's Sad has the same calls)."""

    def __init__(self):
        self.sas = {}

    def install(self, spi_in, spi_out, encr_id, keylen_bits, enc_in, auth_in, enc_out, auth_out,
                local_ts, remote_ts, peer, encap, lifetime=None):
        e = FakeSadEntry(dict(spi_in=spi_in, spi_out=spi_out, encr=encr_id, keylen=keylen_bits, enc_in=enc_in,
                              auth_in=auth_in, enc_out=enc_out, auth_out=auth_out, local_ts=local_ts,
                              remote_ts=remote_ts, peer=peer, encap=encap, lifetime=lifetime))
        self.sas[spi_in] = e
        return e

    def new_spi(self):
        while True:
            spi = os.urandom(4)
            if spi[0] and spi not in self.sas:
                return spi

    def remove(self, spi_in):
        del self.sas[spi_in]

    def get(self, spi_in):
        return self.sas.get(spi_in)

    def all(self):
        return list(self.sas.values())


def capture():
    """The firmware's log lines from now on, as a list that fills as they come (log.set_output(None)
    ends it)."""
    lines = []
    log.set_output(lines.append)
    return lines


def warns(lines):
    return [x for x in lines if x.startswith("WARN")]


def rig(status_path=None, **peer_over):
    """(responder, wan, sad) with a fresh config; status_path: where it writes its status file."""
    cfg = make_config(**peer_over)
    wan = FakeWan()
    sad = FakeSad()
    return responder.Responder(cfg, wan, sad, status_path), wan, sad


def status_path():
    """A fresh name for a status file under /tmp (the test removes it)."""
    return "/tmp/bg-status-%s.json" % "".join(["%02x" % b for b in os.urandom(4)])


def nat_d(spi_i, spi_r, sa):
    import hashlib
    ip, port = addr.split(sa)
    return hashlib.sha1(spi_i + spi_r + ip + bytes((port >> 8, port & 255))).digest()


def ike_proposal(text, spi=b"", num=1):
    spec = proposal.parse(text, const.PROTO_IKE)
    return _proposal(spec, const.PROTO_IKE, spi, num)


def esp_proposal(text, spi, num=1):
    spec = proposal.parse(text, const.PROTO_ESP)
    return _proposal(spec, const.PROTO_ESP, spi, num)


def _proposal(spec, proto, spi, num):
    t = []
    for e, kl in spec.encr:
        t.append(message.Transform(const.TRANS_ENCR, e, kl))
    if proto == const.PROTO_IKE:
        for p in spec.prf:
            t.append(message.Transform(const.TRANS_PRF, p))
    for i in spec.integ:
        t.append(message.Transform(const.TRANS_INTEG, i))
    for g in spec.dh:
        t.append(message.Transform(const.TRANS_DH, g))
    if proto == const.PROTO_ESP:
        for e in spec.esn:
            t.append(message.Transform(const.TRANS_ESN, e))
    return message.Proposal(num, proto, spi, t)


def selectors(*cidrs):
    return [ts.from_cidr(c) for c in cidrs]


class Initiator:
    def __init__(self, group=const.MODP_2048, ike="aes256-sha256-modp2048", psk=PSK, ident=b"hq.example.net",
                 id_type=const.ID_FQDN, remote=HQ):
        self.spi_i = os.urandom(8)
        self.group = group
        self.ike = ike
        self.psk = psk
        self.ident = ident
        self.id_type = id_type
        self.remote = remote
        self.natt = False
        self.ni = os.urandom(32)
        self.kp = dh.new(group)
        self.cookie = None
        self.spi_r = bytes(8)
        self.msg_id = 0
        self.init_req = None

    # -- IKE_SA_INIT --
    def sa_init(self, proposals=None, extra=(), natd=True):
        p = [message.Sa(proposals or [ike_proposal(self.ike)]), message.Ke(self.group, self.kp.public),
             message.Nonce(self.ni)]
        if self.cookie is not None:
            p.insert(0, message.Notify(0, b"", const.COOKIE, self.cookie))
        if natd:
            p.append(message.Notify(0, b"", const.NAT_DETECTION_SOURCE_IP, os.urandom(20)))  # "behind a NAT"
            p.append(message.Notify(0, b"", const.NAT_DETECTION_DESTINATION_IP,
                                    nat_d(self.spi_i, bytes(8), addr.make(addr.parse_ip("10.99.0.2"), 500))))
        p.extend(extra)
        m = message.Message(self.spi_i, bytes(8), const.IKE_SA_INIT, const.FLAG_INITIATOR, 0, p)
        self.init_req = m.encode()
        return self.init_req

    def init_response(self, data):
        m = message.decode(data)
        assert m.is_response and m.exchange == const.IKE_SA_INIT and m.spi_i == self.spi_i
        err = [p for p in m.payloads if isinstance(p, message.Notify) and p.notify_type < 16384]
        if err:
            return m
        self.spi_r = m.spi_r
        self.init_resp = bytes(data)
        sa = m.get(message.Sa).proposals[0]
        self.chosen = sa
        self.nr = bytes(m.get(message.Nonce).data)
        ke = m.get(message.Ke)
        assert ke.group == self.group
        gir = self.kp.shared(ke.data)
        encr = [t for t in sa.transforms if t.type == const.TRANS_ENCR][0]
        elen = encr.keylen // 8
        self.encr = encr.id
        self.keys = keys.ike_keys(keys.skeyseed(self.ni, self.nr, gir), self.ni, self.nr, self.spi_i, self.spi_r, elen)
        self.tx = sk.SkCodec(encr.id, self.keys.sk_ei, self.keys.sk_ai)
        self.rx = sk.SkCodec(encr.id, self.keys.sk_er, self.keys.sk_ar)
        self.msg_id = 1
        return m

    # -- encrypted exchanges --
    def request(self, exchange, payloads, msg_id=None):
        mid = self.msg_id if msg_id is None else msg_id
        if msg_id is None:
            self.msg_id += 1
        m = message.Message(self.spi_i, self.spi_r, exchange, const.FLAG_INITIATOR, mid, payloads)
        return self.tx.seal(m)

    def fragments(self, exchange, payloads, n, msg_id=None):
        """The request as n SKF fragments (RFC 7383 2.5), each encrypted and authenticated on its own:
        built here from the header up, not by the responder's SkCodec."""
        mid = self.msg_id if msg_id is None else msg_id
        if msg_id is None:
            self.msg_id += 1
        m = message.Message(self.spi_i, self.spi_r, exchange, const.FLAG_INITIATOR, mid, payloads)
        first, chain = message.encode_payloads(payloads)
        step = (len(chain) + n - 1) // n
        out = []
        for k in range(n):
            part = chain[k * step:(k + 1) * step]
            pad = 15 - len(part) % 16
            iv = os.urandom(16)
            body = cryptolib.aes(self.keys.sk_ei, 2, iv).encrypt(part + bytes(pad) + bytes((pad,)))
            total = const.HEADER_LEN + 8 + 16 + len(body) + 16
            b = bytearray(total - 16)
            m.header_into(b, const.PT_SKF, total)
            h = const.HEADER_LEN
            b[h] = first if k == 0 else 0
            b[h + 2:h + 4] = bytes(((total - h) >> 8, (total - h) & 255))
            b[h + 4:h + 8] = bytes(((k + 1) >> 8, (k + 1) & 255, n >> 8, n & 255))
            b[h + 8:h + 24] = iv
            b[h + 24:] = body
            out.append(bytes(b) + hmac_sha256(self.keys.sk_ai, bytes(b))[:16])
        return out

    def open(self, data):
        m = message.decode(data)
        payloads, crit = self.rx.open(data, m)
        return m, payloads

    def answer(self, request_msg, payloads):
        """Our response to a request of the responder's (DPD, DELETE)."""
        m = message.Message(self.spi_i, self.spi_r, request_msg.exchange, const.FLAG_INITIATOR | const.FLAG_RESPONSE,
                            request_msg.msg_id, payloads)
        return self.tx.seal(m)

    def psk_auth(self, octets, nonce, sk_p, id_type, id_data):
        body = bytes((id_type, 0, 0, 0)) + id_data
        return hmac_sha256(hmac_sha256(self.psk, b"Key Pad for IKEv2"), octets, nonce, hmac_sha256(sk_p, body))

    def auth(self, esp="aes256-sha256", tsi=("10.10.1.0/24",), tsr=("10.20.1.0/24",), extra=(), spi=None,
             child=True):
        self.child_spi = spi or os.urandom(4)
        a = self.psk_auth(self.init_req, self.nr, self.keys.sk_pi, self.id_type, self.ident)
        p = [message.IdI(self.id_type, self.ident), message.Auth(const.SHARED_KEY_MESSAGE_INTEGRITY_CODE, a)]
        p.extend(extra)
        if child:
            p += [message.Sa([esp_proposal(esp, self.child_spi)]), message.TsI(selectors(*tsi)),
                  message.TsR(selectors(*tsr))]
        return self.request(const.IKE_AUTH, p)

    def check_auth(self, payloads):
        idr = [p for p in payloads if isinstance(p, message.IdR)][0]
        a = [p for p in payloads if isinstance(p, message.Auth)][0]
        want = self.psk_auth(self.init_resp, self.ni, self.keys.sk_pr, idr.id_type, bytes(idr.data))
        assert bytes(a.data) == want, "responder AUTH does not verify"
        return idr


def notify_types(payloads):
    return [p.notify_type for p in payloads if isinstance(p, message.Notify)]


def first(payloads, cls):
    for p in payloads:
        if isinstance(p, cls):
            return p
    return None


def establish(r, wan, i=None, **auth_kw):
    """Run IKE_SA_INIT + IKE_AUTH; returns (initiator, auth response payloads)."""
    i = i or Initiator()
    r.input(i.sa_init(), i.remote, i.natt)
    i.init_response(wan.pop()[0])
    i.natt = True
    i.remote = HQ_NATT
    r.input(i.auth(**auth_kw), i.remote, i.natt)
    data, remote, natt = wan.pop()
    assert natt and remote == HQ_NATT
    m, payloads = i.open(data)
    assert m.is_response and m.msg_id == 1
    return i, payloads
