"""LAN port drivers implementing the interface described in net/port.py: afpacket (sim board, a
Linux AF_PACKET socket on a veth) and w5500 (WIZnet W5500 in MACRAW mode over machine.SPI)."""
