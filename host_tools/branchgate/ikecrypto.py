"""The cryptography of `branchgate check`, from `cryptography` and the standard library only -- none of
the firmware's crypto code -- so the check tests the device against an independent implementation:
DH groups 14/19/31, PRF_HMAC_SHA2_256 and prf+, the IKEv2 key schedule (RFC 7296 2.13-2.17), the SK
payload's AES-CBC + HMAC-SHA2-256-128 (3.14) and tunnel-mode ESP with the same algorithms
(RFC 4303, RFC 3602, RFC 4868)."""
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .fwimport import firmware_module

C = firmware_module("ike.const")  # protocol numbers only (the wire's vocabulary, not its crypto)

ICV_LEN = 16  # AUTH_HMAC_SHA2_256_128
BLOCK = 16
KEY_PAD = b"Key Pad for IKEv2"

# RFC 3526 section 3: the 2048-bit MODP group's prime (generator 2).
MODP2048_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)


class DhError(ValueError):
    pass


class KeyExchange:
    """An ephemeral key pair of `group`: `.public` is the KE payload data (RFC encodings: MODP 256
    bytes big-endian, ECP-256 x|y, X25519 32 bytes), `.shared(peer)` g^ir as IKE uses it."""

    def __init__(self, group):
        self.group = group
        if group == C.CURVE25519:
            self._key = x25519.X25519PrivateKey.generate()
            self.public = self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)
        elif group == C.ECP_256:
            self._key = ec.generate_private_key(ec.SECP256R1())
            # X9.62 uncompressed point without its 0x04 prefix (RFC 5903 section 7)
            self.public = self._key.public_key().public_bytes(serialization.Encoding.X962,
                                                              serialization.PublicFormat.UncompressedPoint)[1:]
        elif group == C.MODP_2048:
            params = dh.DHParameterNumbers(MODP2048_P, 2).parameters()
            self._key = params.generate_private_key()
            self.public = self._key.public_key().public_numbers().y.to_bytes(256, "big")
        else:
            raise DhError("DH group %d is not supported by the check" % group)

    def shared(self, peer):
        try:
            if self.group == C.CURVE25519:
                return self._key.exchange(x25519.X25519PublicKey.from_public_bytes(bytes(peer)))
            if self.group == C.ECP_256:
                if len(peer) != 64:
                    raise ValueError("%d bytes" % len(peer))
                pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + bytes(peer))
                return self._key.exchange(ec.ECDH(), pub)
            y = int.from_bytes(bytes(peer), "big")
            if len(peer) != 256 or not 1 < y < MODP2048_P - 1:
                raise ValueError("public value out of range")
            pub = dh.DHPublicNumbers(y, self._key.parameters().parameter_numbers()).public_key()
            return self._key.exchange(pub).rjust(256, b"\0")
        except ValueError as e:
            raise DhError("the device's DH public value for group %d is invalid (%s)" % (self.group, e)) from None


def prf(key, *parts):
    """PRF_HMAC_SHA2_256."""
    return hmac.new(key, b"".join(bytes(p) for p in parts), hashlib.sha256).digest()


def prf_plus(key, seed, length):
    out, t, n = b"", b"", 1
    while len(out) < length:
        t = prf(key, t, seed, bytes((n,)))
        out += t
        n += 1
    return out[:length]


class IkeKeys:
    """SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr for PRF/INTEG HMAC-SHA2-256."""

    def __init__(self, ni, nr, gir, spi_i, spi_r, encr_len):
        skeyseed = prf(ni + nr, gir)
        km = prf_plus(skeyseed, ni + nr + spi_i + spi_r, 3 * 32 + 2 * 32 + 2 * encr_len)
        parts = []
        for n in (32, 32, 32, encr_len, encr_len, 32, 32):
            parts.append(km[:n])
            km = km[n:]
        self.sk_d, self.sk_ai, self.sk_ar, self.sk_ei, self.sk_er, self.sk_pi, self.sk_pr = parts


def child_keys(sk_d, ni, nr, encr_len):
    """(encr_i, integ_i, encr_r, integ_r) of the first CHILD SA (2.17; no PFS in IKE_AUTH)."""
    km = prf_plus(sk_d, ni + nr, 2 * (encr_len + 32))
    e = encr_len
    return km[:e], km[e:e + 32], km[e + 32:2 * e + 32], km[2 * e + 32:]


def psk_auth(psk, octets, nonce, sk_p, id_type, id_data):
    """AUTH data for a pre-shared key (2.15)."""
    return prf(prf(psk, KEY_PAD), octets, nonce, prf(sk_p, bytes((id_type, 0, 0, 0)) + bytes(id_data)))


def _cbc(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = c.encryptor() if encrypt else c.decryptor()
    return ctx.update(data) + ctx.finalize()


class IntegrityError(ValueError):
    pass


class SkDirection:
    """One direction of the SK payload: encr key + integ key."""

    def __init__(self, encr_key, integ_key):
        self.encr_key = encr_key
        self.integ_key = integ_key

    def encrypt(self, inner):
        """SK payload body (IV | ciphertext | zero ICV) for the inner payload bytes; the caller puts
        the message around it and then the ICV in with icv()."""
        pad = BLOCK - (len(inner) + 1) % BLOCK
        iv = os.urandom(BLOCK)
        return iv + _cbc(self.encr_key, iv, inner + bytes(pad) + bytes((pad,)), True) + bytes(ICV_LEN)

    def icv(self, datagram):
        return hmac.new(self.integ_key, datagram[:-ICV_LEN], hashlib.sha256).digest()[:ICV_LEN]

    def decrypt(self, datagram, body):
        """Verify the whole datagram's ICV, then decrypt the SK body -> inner payload bytes."""
        if not hmac.compare_digest(self.icv(datagram), bytes(datagram[-ICV_LEN:])):
            raise IntegrityError("ICV mismatch")
        body = bytes(body)
        ct = body[BLOCK:-ICV_LEN]
        if not ct or len(ct) % BLOCK:
            raise IntegrityError("ciphertext of %d bytes" % len(ct))
        plain = _cbc(self.encr_key, body[:BLOCK], ct, False)
        return plain[:len(plain) - 1 - plain[-1]]


class EspSa:
    """Tunnel-mode ESP, AES-CBC + HMAC-SHA2-256-128, one SA pair: seal() what we send (to spi_out),
    open() what we receive (on spi_in). UDP encapsulation is the caller's."""

    def __init__(self, spi_in, spi_out, encr_in, integ_in, encr_out, integ_out):
        self.spi_in, self.spi_out = spi_in, spi_out
        self._in = (encr_in, integ_in)
        self._out = (encr_out, integ_out)
        self.seq = 0

    def seal(self, inner, next_header=4):
        self.seq += 1
        pad = (-(len(inner) + 2)) % BLOCK
        plain = inner + bytes(range(1, pad + 1)) + bytes((pad, next_header))
        iv = os.urandom(BLOCK)
        pkt = self.spi_out + struct.pack("!I", self.seq) + iv + _cbc(self._out[0], iv, plain, True)
        return pkt + hmac.new(self._out[1], pkt, hashlib.sha256).digest()[:ICV_LEN]

    def open(self, pkt):
        """-> (next header, inner packet); IntegrityError when it is not ours or does not verify."""
        pkt = bytes(pkt)
        if len(pkt) < 8 + BLOCK + BLOCK + ICV_LEN or pkt[:4] != self.spi_in:
            raise IntegrityError("not for our SA")
        if not hmac.compare_digest(hmac.new(self._in[1], pkt[:-ICV_LEN], hashlib.sha256).digest()[:ICV_LEN],
                                   pkt[-ICV_LEN:]):
            raise IntegrityError("ESP ICV mismatch")
        ct = pkt[8 + BLOCK:-ICV_LEN]
        if len(ct) % BLOCK:
            raise IntegrityError("ESP ciphertext of %d bytes" % len(ct))
        plain = _cbc(self._in[0], pkt[8:8 + BLOCK], ct, False)
        pad = plain[-2]
        return plain[-1], plain[:len(plain) - 2 - pad]
