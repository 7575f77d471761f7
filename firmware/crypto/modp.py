# Group 14: 2048-bit MODP group (RFC 3526 section 3), generator 2. p is a safe prime, so the only
# small-subgroup elements are 1 and p-1; a peer value in [2, p-2] is accepted (RFC 7296 / SP 800-56A).
import os

from crypto.dh import DhError
from ike import const as ike_const

LEN = 256
G = 2
P = int.from_bytes(bytes.fromhex(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D"
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D"
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9"
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF"), "big")
EXP_BYTES = 32  # a 256-bit private exponent: twice the ~112-bit strength of the group (RFC 3526 sec 8)


class Dh:
    group = ike_const.MODP_2048

    def __init__(self, private=None, public=None):
        """private: the exponent as big-endian bytes; by default 256 random bits. public: its public
        value if known (crypto.dh keeps both between operations), else computed."""
        if private is None:
            private = os.urandom(EXP_BYTES)
            while int.from_bytes(private, "big") < 2:  # 0 and 1 give a trivial public value
                private = os.urandom(EXP_BYTES)
        self.private = private
        self._x = int.from_bytes(private, "big")
        # The builtin pow: MicroPython's mpz code frees its temporaries as it goes. A Python loop
        # (square, then shift for a bit set) made ~330 KB of 514-byte garbage per key pair, which a
        # fragmented heap could not always place, and was slower on a 32-bit build (31 ms vs 22).
        self.public = pow(G, self._x, P).to_bytes(LEN, "big") if public is None else public

    def shared(self, peer):
        z = pow(check(peer), self._x, P)
        if z == 1:  # cannot happen for a checked peer value (p is safe, x < q): kept as the last word
            raise DhError("MODP-2048 shared secret is 1")
        return z.to_bytes(LEN, "big")


def check(peer):
    """The peer's public value as an integer; DhError unless it is 256 bytes in [2, p-2]."""
    if len(peer) != LEN:
        raise DhError("MODP-2048 public value must be 256 bytes, got %d" % len(peer))
    y = int.from_bytes(peer, "big")
    if y < 2 or y > P - 2:
        raise DhError("MODP-2048 public value out of range")
    return y
