"""Packet captures on a lab interface (tcpdump) and their decoding by scapy, independently of our code.

  with Capture(lab.hq, lab.hq_wan_if, path) as cap: ...   # tcpdump runs inside the with block
  ike_messages(path) -> list of IkeRecord (exchange type, response?, port, SPIs, scapy message)
  esp_spis(path)     -> SPIs of the UDP-encapsulated ESP packets, in order
  decrypt_esp(path, spi, encr_key, integ_key) -> inner packets, by scapy's ESP (keys e.g. from
                        Charon.esp_keys())
"""
import subprocess
from collections import namedtuple

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37
FLAG_RESPONSE = 0x20

IkeRecord = namedtuple("IkeRecord", "exchange response port spi_i spi_r msg_id ike")


class Capture:
    def __init__(self, ns, ifname, path, bpf="udp"):
        self.ns, self.ifname, self.path, self.bpf = ns, ifname, path, bpf
        self.proc = None

    def __enter__(self):
        self.proc = self.ns.popen(["tcpdump", "-i", self.ifname, "-n", "-U", "--immediate-mode", "-Z", "root", "-s", "0", "-w", self.path, self.bpf],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()  # tcpdump says "listening on ..." once the socket is open
        if "listening on" not in line:
            raise RuntimeError("tcpdump did not start: %s" % line)
        return self

    def __exit__(self, *exc):
        self.ns.lab.stop(self.proc)


def _udp_datagrams(path):
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap
    for pkt in rdpcap(str(path)):
        if UDP in pkt:
            yield pkt[UDP], bytes(pkt[UDP].payload)


def ike_messages(path):
    """Every IKE message in the capture: UDP 500 as is, UDP 4500 after its non-ESP marker."""
    from scapy.contrib.ikev2 import IKEv2
    out = []
    for udp, data in _udp_datagrams(path):
        ports = (udp.sport, udp.dport)
        if 4500 in ports:
            if len(data) < 4 or data[:4] != b"\0\0\0\0":
                continue  # ESP (non-zero SPI) or a NAT keepalive
            data, port = data[4:], 4500
        elif 500 in ports:
            port = 500
        else:
            continue
        ike = IKEv2(data)
        out.append(IkeRecord(ike.exch_type, bool(ike.flags & FLAG_RESPONSE), port, ike.init_SPI.hex(),
                             ike.resp_SPI.hex(), ike.id, ike))
    return out


def esp_spis(path):
    """SPIs (hex) of the ESP-in-UDP packets (RFC 3948) in the capture, in order."""
    return [data[:4].hex() for udp, data in _udp_datagrams(path)
            if 4500 in (udp.sport, udp.dport) and len(data) > 8 and data[:4] != b"\0\0\0\0"]


def sa_init_choice(record):
    """(encr id, key length, integ id, prf id, dh id) of the proposal in an IKE_SA_INIT response and
    the group of its KE payload."""
    from scapy.contrib.ikev2 import IKEv2_KE, IKEv2_Proposal, IKEv2_Transform
    prop = record.ike[IKEv2_Proposal]
    chosen = {}
    t = prop.trans
    while t is not None and isinstance(t, IKEv2_Transform):
        chosen[t.transform_type] = (t.transform_id, t.key_length)
        t = t.payload if isinstance(t.payload, IKEv2_Transform) else None
    encr = chosen[1]
    return (encr[0], encr[1], chosen[3][0], chosen[2][0], chosen[4][0]), record.ike[IKEv2_KE].group



def decrypt_esp(path, spi, encr_key, integ_key):
    """The inner packets of the ESP-in-UDP packets with `spi` (hex) in the capture, decrypted and
    ICV-checked by scapy's own ESP implementation (AES-CBC + HMAC-SHA2-256-128) with the given keys."""
    from scapy.layers.inet import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    sa = SecurityAssociation(ESP, spi=int(spi, 16), crypt_algo="AES-CBC", crypt_key=encr_key,
                             auth_algo="SHA2-256-128", auth_key=integ_key)
    inner = []
    for udp, data in _udp_datagrams(path):
        if 4500 in (udp.sport, udp.dport) and data[:4].hex() == spi:
            outer = udp.underlayer
            dec = sa.decrypt(IP(src=outer.src, dst=outer.dst, proto=50) / ESP(data))
            inner.append(dec.payload if dec.proto == 4 else dec)  # tunnel mode: IP in IP
    return inner
