# Stateless cookies (RFC 7296 2.6). While too many SAs are half-open, an IKE_SA_INIT without a valid
# COOKIE gets only a COOKIE back and costs us no state and no DH. Cookie = version | HMAC(secret,
# Ni | IPi | SPIi); the secret rotates and cookies made with the previous one stay valid one period.
import os
import time

from crypto import ct
from crypto import hmac
from micropython import const

ROTATE_MS = const(120000)


class Cookies:
    def __init__(self):
        self.version = 0
        self.secret = os.urandom(32)
        self.old = None
        self.rotated = time.ticks_ms()

    def _rotate(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self.rotated) >= ROTATE_MS:
            self.old = (self.version, self.secret)
            self.version = (self.version + 1) & 0xFF
            self.secret = os.urandom(32)
            self.rotated = now

    @staticmethod
    def _make(version, secret, ni, peer_key, spi_i):
        return bytes((version,)) + hmac.hmac_sha256(secret, ni, peer_key, spi_i)[:16]

    def make(self, ni, peer_key, spi_i):
        self._rotate()
        return self._make(self.version, self.secret, ni, peer_key, spi_i)

    def valid(self, cookie, ni, peer_key, spi_i):
        self._rotate()
        if len(cookie) != 17:
            return False
        for gen in ((self.version, self.secret), self.old):
            if gen is not None and cookie[0] == gen[0]:
                return ct.eq(cookie, self._make(gen[0], gen[1], ni, peer_key, spi_i))
        return False
