# Network wire numbers (Ethernet/IP/UDP/ESP/NAT-T). IKEv2 registries live in ike/const.py.
from micropython import const

# UDP ports (RFC 7296 2.23, RFC 3948)
IKE_PORT = const(500)
NATT_PORT = const(4500)

# RFC 3948 2.2: a UDP/4500 payload starting with 4 zero bytes is IKE, not ESP (SPI 0 is reserved).
NON_ESP_MARKER = b"\x00\x00\x00\x00"
NON_ESP_MARKER_LEN = const(4)
# RFC 3948 2.3: a one-byte 0xFF payload keeps NAT mappings alive.
NATT_KEEPALIVE = b"\xff"

# Linux's socket option numbers: the sim board sets its sockets' kernel receive buffers (lwIP on the
# chip sizes its queues at build time)
SOL_SOCKET = const(1)
SO_RCVBUF = const(8)

# Ethernet (IEEE 802.3; names as in Linux if_ether.h)
ETH_ALEN = const(6)
ETH_HLEN = const(14)
ETH_DATA_LEN = const(1500)
ETH_FRAME_LEN = const(1514)
ETH_ZLEN = const(60)        # minimum frame without FCS (64 with): shorter frames are padded
# Frame buffers (net/port.py BUF_SIZE): the largest frame (1514) rounded up to the 64-byte granules
# the W5500 driver moves over SPI.
FRAME_BUF = const(1536)
ETH_P_ALL = const(0x0003)
ETH_P_IP = const(0x0800)
ETH_P_ARP = const(0x0806)

# ARP (RFC 826)
ARPHRD_ETHER = const(1)
ARPOP_REQUEST = const(1)
ARPOP_REPLY = const(2)

# IPv4 header (RFC 791)
IPVERSION = const(4)
IP_DF = const(0x4000)
IP_MF = const(0x2000)
IP_OFFMASK = const(0x1FFF)
IPDEFTTL = const(64)
IPPROTO_ICMP = const(1)
IPPROTO_TCP = const(6)

# ICMP (RFC 792, RFC 1191)
ICMP_ECHOREPLY = const(0)
ICMP_DEST_UNREACH = const(3)
ICMP_FRAG_NEEDED = const(4)
ICMP_ECHO = const(8)
ICMP_TIME_EXCEEDED = const(11)
ICMP_EXC_TTL = const(0)

# TCP (RFC 9293)
TH_SYN = const(0x02)
TCPOPT_EOL = const(0)
TCPOPT_NOP = const(1)
TCPOPT_MAXSEG = const(2)
TCPOLEN_MAXSEG = const(4)

# IP protocol numbers carried in IPv4 "protocol" / ESP "next header" (IANA protocol numbers)
IPPROTO_IPIP = const(4)     # tunnel-mode ESP payload: an IPv4 packet
IPPROTO_UDP = const(17)
IPPROTO_ESP = const(50)
IPPROTO_NONE = const(59)    # "no next header": ESP dummy packet (RFC 4303 2.6), dropped
IPPROTO_SCTP = const(132)

# Header lengths (RFC 791, RFC 768, RFC 4303 2)
IP_HDR_LEN = const(20)      # IPv4 header without options
UDP_HDR_LEN = const(8)
ESP_HDR_LEN = const(8)      # SPI + sequence number
ESP_TRAILER_LEN = const(2)  # pad length + next header
