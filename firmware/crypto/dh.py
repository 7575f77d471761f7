# Diffie-Hellman for IKEv2 KE payloads: group 14 (MODP-2048), 19 (ECP-256), 31 (Curve25519).
# `new(group)` makes a fresh ephemeral key pair: `.public` is the KE payload data in the group's IKE
# encoding and `.shared(peer_bytes)` returns g^ir in the IKE encoding, after validating the peer's value.
# Group modules are imported on first use so an unused group costs no heap.
from ike import const

SUPPORTED = (const.MODP_2048, const.ECP_256, const.CURVE25519)


class DhError(ValueError):
    """A peer's public value (or the resulting secret) is unacceptable; the message says why."""


def new(group):
    if group == const.MODP_2048:
        from crypto import modp

        return modp.Dh()
    if group == const.ECP_256:
        from crypto import p256

        return p256.Dh()
    if group == const.CURVE25519:
        from crypto import x25519

        return x25519.Dh()
    raise DhError("unsupported DH group %d" % group)
