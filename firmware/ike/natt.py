# NAT detection (RFC 7296 2.23): NAT_DETECTION_*_IP data is SHA-1(SPIi | SPIr | IP | port). A
# mismatch on the peer's SOURCE hash means the peer is behind a NAT, on its DESTINATION hash that we
# are; either way IKE floats to UDP 4500 and ESP is UDP-encapsulated (RFC 3948).
# The device carries ESP only in UDP, so its own SOURCE hash is random: every peer that does NAT
# traversal then sees a NAT in front of the device and encapsulates, with or without a real one (what
# strongSwan's encap=yes does; Cisco's and Huawei's gateways encapsulate only when they see a NAT).
import hashlib
import os

from ike import const
from ike import message
from net import addr


def nat_hash(spi_i, spi_r, sa):
    ip, port = addr.split(sa)
    h = hashlib.sha1(spi_i)
    h.update(spi_r)
    h.update(ip)
    h.update(bytes((port >> 8, port & 0xFF)))
    return h.digest()


def detect(msg, spi_r, local, remote):
    """Return (peer_behind_nat, we_behind_nat) from msg's NAT-D notifies computed with spi_r as the
    sender saw it, or None when the peer sent no NAT-D (it does not support NAT traversal)."""
    srcs = []
    dst = None
    for p in msg.payloads:
        if isinstance(p, message.Notify):
            if p.notify_type == const.NAT_DETECTION_SOURCE_IP:
                srcs.append(bytes(p.data))
            elif p.notify_type == const.NAT_DETECTION_DESTINATION_IP:
                dst = bytes(p.data)
    if not srcs or dst is None:
        return None
    # Several SOURCE notifies are allowed (multi-homed initiator): any match means no NAT.
    peer_hash = nat_hash(msg.spi_i, spi_r, remote)
    return peer_hash not in srcs, dst != nat_hash(msg.spi_i, spi_r, local)


def notifies(spi_i, spi_r, remote):
    """Our NAT-D notifies for a response sent to `remote`: a SOURCE hash that matches no address
    (see above) and the true DESTINATION one."""
    return [message.Notify(0, b"", const.NAT_DETECTION_SOURCE_IP, os.urandom(20)),
            message.Notify(0, b"", const.NAT_DETECTION_DESTINATION_IP, nat_hash(spi_i, spi_r, remote))]
