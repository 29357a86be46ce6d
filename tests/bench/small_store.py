#!/usr/bin/env python3
"""small_store.py — writes a store's worth of small CT objects for the
C-FIND benchmark: STUDIES studies of one series of PER instances each (8x8
pixels, explicit VR little endian), patient i = P<i>, name Name^<i>, study
UID ROOT.<i>, series ROOT.<i>.1, instance ROOT.<i>.1.<k>, Study Date
2026MMDD spread over the year, in OUT/s<i>/.  Only the standard library:
the store's size, not the pixels, is what a query costs.

usage: small_store.py OUT STUDIES PER [ROOT]
"""
import os
import struct
import sys

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


def el(group, elem, vr, value):
    if isinstance(value, str):
        value = value.encode()
        if len(value) % 2:
            value += b"\0" if vr == "UI" else b" "
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def us(v):
    return struct.pack("<H", v)


def part10(study, series, sop, i, k, date):
    meta_body = (el(2, 1, "OB", b"\0\1") + el(2, 2, "UI", CT) + el(2, 3, "UI", sop) +
                 el(2, 0x10, "UI", EXPLICIT) + el(2, 0x12, "UI", "1.2.826.0.1.3680043.10.999"))
    meta = el(2, 0, "UL", struct.pack("<I", len(meta_body))) + meta_body
    ds = b"".join([
        el(0x0008, 0x0016, "UI", CT), el(0x0008, 0x0018, "UI", sop),
        el(0x0008, 0x0020, "DA", date), el(0x0008, 0x0030, "TM", "120000"),
        el(0x0008, 0x0050, "SH", "A%d" % i), el(0x0008, 0x0060, "CS", "CT"),
        el(0x0010, 0x0010, "PN", "Name^%d" % i), el(0x0010, 0x0020, "LO", "P%d" % i),
        el(0x0020, 0x000D, "UI", study), el(0x0020, 0x000E, "UI", series),
        el(0x0020, 0x0011, "IS", "1"), el(0x0020, 0x0013, "IS", str(k)),
        el(0x0028, 0x0002, "US", us(1)), el(0x0028, 0x0004, "CS", "MONOCHROME2"),
        el(0x0028, 0x0010, "US", us(8)), el(0x0028, 0x0011, "US", us(8)),
        el(0x0028, 0x0100, "US", us(16)), el(0x0028, 0x0101, "US", us(12)),
        el(0x0028, 0x0102, "US", us(11)), el(0x0028, 0x0103, "US", us(0)),
        el(0x7FE0, 0x0010, "OW", bytes(128)),
    ])
    return b"\0" * 128 + b"DICM" + meta + ds


def main(argv):
    out, studies, per = argv[1], int(argv[2]), int(argv[3])
    root = argv[4] if len(argv) > 4 else "1.2.826.0.1.3680043.10.777"
    for i in range(1, studies + 1):
        d = os.path.join(out, "s%d" % i)
        os.makedirs(d, exist_ok=True)
        study = "%s.%d" % (root, i)
        series = study + ".1"
        date = "2026%02d%02d" % (1 + i % 12, 1 + i % 28)
        for k in range(1, per + 1):
            sop = "%s.%d" % (series, k)
            with open(os.path.join(d, "%d.dcm" % k), "wb") as f:
                f.write(part10(study, series, sop, i, k, date))


if __name__ == "__main__":
    main(sys.argv)
