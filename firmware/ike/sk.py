# The Encrypted and Authenticated payload (SK, RFC 7296 3.14; SKF, RFC 7383 2.5): encrypt-then-MAC
# with a CBC cipher and AUTH_HMAC_SHA2_256_128. The ICV covers the IKE header through the ciphertext
# and is checked in constant time before anything is decrypted.
import os

from crypto import cipher, ct, hmac
from ike import const, message
from ike.message import ParseError

ICV_LEN = 16  # AUTH_HMAC_SHA2_256_128: HMAC-SHA-256 truncated to 128 bits (RFC 4868)


class IntegrityError(ValueError):
    pass


class SkCodec(hmac.HmacSha256):
    """One direction of an IKE SA: SK_ei/SK_ai for what the initiator sends, SK_er/SK_ar for the other.
    It is its own HMAC (one object less per direction and IKE SA)."""

    def __init__(self, encr_id, encr_key, integ_key):
        super().__init__(integ_key)
        self._cipher = cipher.new(encr_id, encr_key)

    def seal(self, msg):
        """The datagram for msg, whose payloads are the SK payload's inner payloads -> bytes."""
        bs = self._cipher.block_size
        inner = message.payloads_size(msg.payloads)
        plain = (inner + bs) // bs * bs  # inner payloads + padding + the pad-length octet
        total = message.HEADER_LEN + 4 + bs + plain + ICV_LEN
        b = bytearray(total)
        msg.header_into(b, const.PT_SK, total)
        h = message.HEADER_LEN
        b[h] = message.payloads_into(b, h + 4 + bs, msg.payloads)
        b[h + 2] = (total - h) >> 8
        b[h + 3] = (total - h) & 255
        iv = os.urandom(bs)
        b[h + 4:h + 4 + bs] = iv
        start = h + 4 + bs
        end = start + plain
        b[end - 1] = plain - inner - 1  # padding octets stay zero
        mv = memoryview(b)
        b[start:end] = self._cipher.encrypt(iv, mv[start:end])
        b[end:] = self.mac(mv[:end])[:ICV_LEN]
        return bytes(b)

    def _decrypt(self, buf, body):
        # body = IV | ciphertext | ICV, the tail of buf; returns the plaintext without padding.
        bs = self._cipher.block_size
        n = len(body) - bs - ICV_LEN
        if n < bs or n % bs:
            raise ParseError("encrypted payload: %d ciphertext bytes, block size %d" % (n, bs))
        mv = memoryview(buf)
        end = len(mv) - ICV_LEN
        if not ct.eq(self.mac(mv[:end])[:ICV_LEN], bytes(mv[end:])):
            raise IntegrityError("ICV mismatch")
        plain = self._cipher.decrypt(bytes(body[:bs]), body[bs:bs + n])
        pad = plain[n - 1]
        if pad >= n:
            raise ParseError("encrypted payload: pad length %d of %d bytes" % (pad, n))
        return memoryview(plain)[:n - 1 - pad]

    def open(self, buf, msg):
        """Verify and decrypt msg = message.decode(buf) -> (inner payloads, unsupported_critical)."""
        enc = msg.payloads[-1] if msg.payloads else None
        if not isinstance(enc, message.Encrypted):
            raise ParseError("no SK payload")
        return message.decode_payloads(enc.inner_type, self._decrypt(buf, enc.body))

    def open_fragment(self, buf, msg):
        """Verify and decrypt one SKF fragment -> its plaintext bytes (RFC 7383 2.6); the reassembled
        plaintext of fragments 1..total decodes with decode_payloads(fragment 1's inner_type, ...)."""
        f = msg.payloads[-1] if msg.payloads else None
        if not isinstance(f, message.Fragment):
            raise ParseError("no SKF payload")
        return bytes(self._decrypt(buf, f.body))
