"""Crypto layer: HMAC-SHA-256, prf+, AES/3DES-CBC for the IKE SA, and Diffie-Hellman groups 14/19/31."""
