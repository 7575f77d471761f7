"""Networking for branchgate: wire numbers (const), socket addresses (addr), the WAN sockets (wan),
and the LAN side: the Ethernet port interface (port, ports/), ARP (arp), ICMP and the Internet
checksum (icmp), and the IPv4 gateway between the LAN and the tunnel (ipv4)."""
