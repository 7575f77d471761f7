"""The LAN port: whatever sends and receives raw Ethernet frames (no FCS) for the gateway.

A port driver (net/ports/*) provides:

  port.mac              bytes(6): the station address the gateway answers ARP with.
  port.pollable         an object for select.poll().register(obj, select.POLLIN); it polls readable
                        while at least one frame is waiting.
  port.recv_into(buf)   copy one waiting frame into buf (len(buf) >= BUF_SIZE) and return its length;
                        0 when none is waiting. Never blocks and allocates nothing (except the
                        sim's AF_PACKET driver: the bytes object its recv() returns, see there).
  port.send(buf, n)     transmit buf[0:n] as one frame; True when the port took it, False when it had
                        no room (the caller counts the drop). Frames shorter than ETH_ZLEN may be
                        zero-padded inside buf. Allocates nothing.
  port.close()

Frame buffers are preallocated once by the caller and reused: a driver never keeps a reference to a
buffer past the call.
"""
from net import const as c

ETH_ZLEN = c.ETH_ZLEN       # frames shorter than this are padded
BUF_SIZE = c.FRAME_BUF      # frame buffers: the largest frame rounded up to the W5500's SPI granules


def pad(buf, n):
    """Zero-pad a short frame to ETH_ZLEN (zeros, never stale buffer bytes); returns the new length."""
    while n < ETH_ZLEN:
        buf[n] = 0
        n += 1
    return n


def copy(dst, do, src, so, n):
    """dst[do:do+n] = src[so:so+n] for the few-byte fields of headers, without allocating a slice."""
    for i in range(n):
        dst[do + i] = src[so + i]
