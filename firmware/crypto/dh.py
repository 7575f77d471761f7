# Diffie-Hellman for IKEv2 KE payloads: group 14 (MODP-2048), 19 (ECP-256), 31 (Curve25519).
# `new(group)` makes a fresh ephemeral key pair: `.public` is the KE payload data in the group's IKE
# encoding and `.shared(peer_bytes)` returns g^ir in the IKE encoding, after validating the peer's value.
# A group's module is loaded for each operation and unloaded after: a key pair (the responder keeps
# one between handshakes) holds bytes only, not an object of the group's class, which would keep the
# module's code and constants in the heap.
import sys

from ike import const

SUPPORTED = (const.MODP_2048, const.ECP_256, const.CURVE25519)


class DhError(ValueError):
    """A peer's public value (or the resulting secret) is unacceptable; the message says why."""


def _run(group, fn):
    """fn(the group's module), with the module loaded for the call."""
    if group == const.MODP_2048:
        name = "modp"
    elif group == const.ECP_256:
        name = "p256"
    elif group == const.CURVE25519:
        name = "x25519"
    else:
        raise DhError("unsupported DH group %d" % group)
    full = "crypto." + name
    loaded = full in sys.modules
    mod = __import__(full, None, None, ("Dh",))  # the module itself, as "from crypto.NAME import Dh"
    try:
        return fn(mod)
    finally:
        if not loaded:
            del sys.modules[full]
            delattr(sys.modules["crypto"], name)


class KeyPair:
    """What `new` returns: the group, our public value and the private value (bytes)."""

    def __init__(self, group):
        d = _run(group, lambda m: m.Dh())
        self.group = group
        self.public = d.public
        self.private = d.private

    def shared(self, peer):
        return _run(self.group, lambda m: m.Dh(self.private, self.public).shared(peer))


def check(group, peer):
    """Raise DhError if the peer's public value is malformed or unacceptable (length, range, on the
    curve): what can be known without the DH operation, so that a responder can answer first and
    compute while the peer does (ike/init.py), or compute once the exchange's code has gone
    (ike/rekey_ike.py)."""
    _run(group, lambda m: m.check(peer))


new = KeyPair  # new(group): a fresh key pair
