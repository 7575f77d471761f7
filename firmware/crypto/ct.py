# Constant-time comparison for MACs and other secrets.


def eq(a, b):
    """True if a == b. Time depends only on the lengths, never on where the bytes differ."""
    n = len(a)
    if n != len(b):
        return False
    r = 0
    for i in range(n):
        r |= a[i] ^ b[i]
    return r == 0
