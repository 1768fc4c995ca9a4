#!/usr/bin/env python3
"""Announces that addresses now live on this host's interface: one
gratuitous ARP per IPv4 address and one unsolicited neighbour
advertisement (override flag set) per IPv6 address, so neighbours update
their caches at once instead of after their entries go stale.

usage: announce.py IFACE ADDR...
"""
import ipaddress
import socket
import struct
import sys


def mac_of(iface):
    with open(f"/sys/class/net/{iface}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def garp(iface, mac, ip):
    bcast = b"\xff" * 6
    # a request for our own address: neighbours take it over an entry
    # younger than their locktime, which a reply does not
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1,
                      mac, ip.packed, b"\0" * 6, ip.packed)
    frame = bcast + mac + struct.pack("!H", 0x0806) + arp
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((iface, 0))
        s.send(frame)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na(iface, mac, ip):
    dst = ipaddress.IPv6Address("ff02::1")
    # type 136, flags: override; target; option 2 = target link-layer
    body = struct.pack("!BBHI16sBB6s", 136, 0, 0, 0x20000000, ip.packed,
                       2, 1, mac)
    pseudo = ip.packed + dst.packed + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(body), 58, 255,
                      ip.packed, dst.packed)
    frame = b"\x33\x33\x00\x00\x00\x01" + mac + struct.pack("!H", 0x86DD)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((iface, 0))
        s.send(frame + ip6 + body)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    iface = sys.argv[1]
    mac = mac_of(iface)
    for a in sys.argv[2:]:
        ip = ipaddress.ip_address(a)
        if ip.version == 4:
            garp(iface, mac, ip)
        else:
            unsolicited_na(iface, mac, ip)


if __name__ == "__main__":
    main()
