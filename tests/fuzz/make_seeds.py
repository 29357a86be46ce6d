#!/usr/bin/env python3
"""make_seeds.py OUTDIR SHARED — seed corpora for the fuzz targets: the data
sets of ../shared/data/ts (one per transfer syntax) for data set parsing and
image decoding, whole conversations (association, C-ECHO, C-STORE, release)
and A-ASSOCIATE-RQs built with tests/lib/dicomtool.py; every target also
gets data sets nested past max_nesting and encapsulated pixel data with
honest and lying offset tables."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import dicomtool as t  # noqa: E402

out, shared = sys.argv[1], sys.argv[2]
ds_dir = os.path.join(out, "dataset")
as_dir = os.path.join(out, "association")
im_dir = os.path.join(out, "image")
an_dir = os.path.join(out, "anon")
os.makedirs(an_dir, exist_ok=True)
os.makedirs(ds_dir, exist_ok=True)
os.makedirs(as_dir, exist_ok=True)
os.makedirs(im_dir, exist_ok=True)
rq_dir = os.path.join(out, "assoc_rq")
rc_dir = os.path.join(out, "receive")
os.makedirs(rq_dir, exist_ok=True)
os.makedirs(rc_dir, exist_ok=True)


def put(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def encapsulated(bot, fragments, frames=None):
    """An MR image data set (explicit VR LE) with encapsulated Pixel Data:
    the Basic Offset Table bot (list of offsets) and the fragments."""
    def item(payload):
        return struct.pack("<HHI", 0xFFFE, 0xE000, len(payload)) + payload
    us = lambda g, e, v: struct.pack("<HH2sHH", g, e, b"US", 2, v)
    extra = us(0x0028, 0x0002, 1) + t.elem_explicit(0x0028, 0x0004, "CS", b"MONOCHROME2")
    if frames is not None:
        extra += t.elem_explicit(0x0028, 0x0008, "IS", str(frames).encode())
    extra += us(0x0028, 0x0010, 8) + us(0x0028, 0x0011, 8) + us(0x0028, 0x0100, 16) \
        + us(0x0028, 0x0101, 12) + us(0x0028, 0x0102, 11) + us(0x0028, 0x0103, 0)
    value = item(b"".join(struct.pack("<I", o) for o in bot)) \
        + b"".join(item(f) for f in fragments) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    extra += struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + value
    return t.dataset(sop_class="1.2.840.10008.5.1.4.1.1.4", sop_instance="1.2.3.4.5", extra=extra)


codestream = b"\xff\x4f\xff\x51" + bytes(60)
pixel_cases = {
    "encap-honest": encapsulated([0, 72], [codestream, codestream], frames=2),
    "encap-two-entries-no-frames": encapsulated([0, 10], [codestream, codestream]),
    "encap-past-end": encapsulated([0, 0x7FFFFFF0], [codestream] * 3, frames=2),
    "encap-more-fragments": encapsulated([], [codestream] * 5, frames=2),
    "encap-odd-table": encapsulated([0], [codestream], frames=1)[:-12] + bytes(12),
}
nesting_cases = {
    "deep-explicit": t.dataset(sop_instance="1.2.3.4.5", extra=t.nested(40)),
    "deep-implicit": t.dataset_implicit("1.2.3.4.5") + t.nested(40, implicit=True),
    "nested-ok": t.dataset(sop_instance="1.2.3.4.5", extra=t.nested(20)),
}
# selectors: dataset/anon 1 = explicit LE (0 implicit); image 7 = JPEG 2000,
# 0 = explicit LE; receive: bits 0-2 transfer syntax (1 explicit, 0
# implicit, 4 JPEG 2000), 3-4 receiver, 5-7 chunk size
for name, body in nesting_cases.items():
    implicit = "implicit" in name
    put(ds_dir, name, bytes([0 if implicit else 1]) + body)
    put(an_dir, name, bytes([1 if not implicit else 0]) + body)
    put(im_dir, name, bytes([1 if implicit else 0]) + body)
    for receiver in range(4):
        put(rc_dir, "%s-%d" % (name, receiver), bytes([(0 if implicit else 1) | receiver << 3 | 2 << 5]) + body)
for name, body in pixel_cases.items():
    put(ds_dir, name, bytes([4]) + body)
    put(an_dir, name, bytes([3]) + body)
    put(im_dir, name, bytes([7]) + body)
    for receiver in range(4):
        put(rc_dir, "%s-%d" % (name, receiver), bytes([4 | receiver << 3 | 1 << 5]) + body)
for receiver in range(4):
    put(rc_dir, "small-%d" % receiver, bytes([1 | receiver << 3]) + t.dataset(sop_instance="1.2.3.4.5"))
# fuzz_assoc_rq: requests real peers send, and the corners of PS3.8
put(rq_dir, "one", t.associate_rq())
put(rq_dir, "echo", t.associate_rq(contexts=((1, t.VERIFICATION, t.IMPLICIT_LE),)))
put(rq_dir, "many", t.associate_rq(contexts=tuple((2 * i + 1, t.CT_IMAGE, t.EXPLICIT_LE) for i in range(128))))
rq = t.associate_rq()
body = rq[6:] + t.item(0x7F, b"unknown item")
put(rq_dir, "unknown-item", struct.pack(">BBI", 1, 0, len(body)) + body)
user = t.item(0x51, struct.pack(">I", 16384)) + t.item(0x52, b"1.2.3.4.5.6") + t.item(0x55, b"PYTEST_1") \
    + t.item(0x58, struct.pack(">BBH", 2, 1, 4) + b"user" + struct.pack(">H", 4) + b"pass")
body = rq[6:rq.index(b"\x50\x00")] + t.item(0x50, user)
put(rq_dir, "user-identity", struct.pack(">BBI", 1, 0, len(body)) + body)
# fuzz_image: the first byte picks the transfer syntax (fuzz_image.cc's table)
image_selector = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 4, "7": 6, "8": 6, "9": 7}
for name, sel in image_selector.items():
    path = os.path.join(shared, "data", "ts", name + ".dcm")
    if os.path.exists(path):
        with open(os.path.join(im_dir, name), "wb") as f:
            f.write(bytes([sel]) + t.part10_dataset(path)[:299000])
selector = {"1": 1, "2": 0, "3": 2}
for name in ("1", "2", "3"):
    path = os.path.join(shared, "data", "ts", name + ".dcm")
    if os.path.exists(path):
        body = t.part10_dataset(path)[:60000]
        with open(os.path.join(ds_dir, name), "wb") as f:
            f.write(bytes([selector[name]]) + body)
with open(os.path.join(ds_dir, "small"), "wb") as f:
    f.write(bytes([1]) + t.dataset())
# fuzz_anon: the same data sets (selector 1 = explicit LE) and the small one
for name in os.listdir(ds_dir):
    with open(os.path.join(ds_dir, name), "rb") as src, open(os.path.join(an_dir, name), "wb") as f:
        f.write(src.read())
# whole conversations whose command set or data set nests past max_nesting
deep_cmd = t.c_store_rq(t.CT_IMAGE, "1.2.3.4.6") + t.nested(40, implicit=True)
put(as_dir, "deep-command", t.associate_rq() + t.pdata(1, deep_cmd, True))
put(as_dir, "deep-dataset", t.associate_rq() + t.pdata(1, t.c_store_rq(t.CT_IMAGE, "1.2.3.4.5"), True)
    + t.pdata(1, nesting_cases["deep-explicit"], False))
put(as_dir, "encapsulated", t.associate_rq(contexts=((1, "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2.4.90"),))
    + t.pdata(1, t.c_store_rq("1.2.840.10008.5.1.4.1.1.4", "1.2.3.4.5"), True)
    + t.pdata(1, pixel_cases["encap-two-entries-no-frames"], False))
conv = t.associate_rq(contexts=((1, t.CT_IMAGE, t.EXPLICIT_LE), (3, t.VERIFICATION, t.IMPLICIT_LE)))
conv += t.pdata(3, t.c_echo_rq(), True)
conv += t.pdata(1, t.c_store_rq(t.CT_IMAGE, "1.2.3.4.5"), True)
conv += t.pdata(1, t.dataset(sop_instance="1.2.3.4.5"), False)
conv += struct.pack(">BBI", 5, 0, 4) + b"\0" * 4
with open(os.path.join(as_dir, "store"), "wb") as f:
    f.write(conv)
# C-FIND: a query, a cancelled one, and an identifier that nests too deep
find_ctx = ((1, t.STUDY_ROOT_FIND, t.IMPLICIT_LE),)
put(as_dir, "find", t.associate_rq(contexts=find_ctx) + t.pdata(1, t.c_find_rq(), True)
    + t.pdata(1, t.find_identifier(), False) + struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
put(as_dir, "find-cancel", t.associate_rq(contexts=find_ctx) + t.pdata(1, t.c_find_rq(msg_id=7), True)
    + t.pdata(1, t.find_identifier(level=b"SERIES", keys=((0x0008, 0x0020, b"20200101-"),
                                                           (0x0020, 0x000E, b"1.2\\1.3"))), False)
    + t.pdata(1, t.c_cancel_rq(msg_id=7), True))
move_ctx = ((1, t.STUDY_ROOT_MOVE, t.IMPLICIT_LE),)
put(as_dir, "move", t.associate_rq(contexts=move_ctx) + t.pdata(1, t.c_move_rq(), True)
    + t.pdata(1, t.find_identifier(keys=((0x0020, 0x000D, b"1.2.3\\1.2.4"),)), False)
    + struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
get_ctx = ((1, t.STUDY_ROOT_GET, t.IMPLICIT_LE), (3, t.CT_IMAGE, t.EXPLICIT_LE))
put(as_dir, "get", t.associate_rq(contexts=get_ctx) + t.pdata(1, t.c_get_rq(), True)
    + t.pdata(1, t.find_identifier(keys=((0x0020, 0x000D, b"1.2.3"),)), False)
    + struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
sc_ctx = ((1, t.STORAGE_COMMITMENT, t.IMPLICIT_LE),)
put(as_dir, "commit", t.associate_rq(contexts=sc_ctx) + t.pdata(1, t.n_action_rq(), True)
    + t.pdata(1, t.commit_request("1.2.3.9", ((t.CT_IMAGE, "1.2.3.4.5"), (t.CT_IMAGE, "1.2.3.4.6"))), False)
    + struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
put(as_dir, "find-deep", t.associate_rq(contexts=find_ctx) + t.pdata(1, t.c_find_rq(), True)
    + t.pdata(1, t.find_identifier() + t.nested(40, implicit=True), False))
with open(os.path.join(as_dir, "echo"), "wb") as f:
    f.write(t.associate_rq(contexts=((1, t.VERIFICATION, t.IMPLICIT_LE),))
            + t.pdata(1, t.c_echo_rq(), True) + struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)

# inputs the fuzzer once found to fail, kept as seeds so every run tries
# them again (tests/fuzz/regressions/TARGET/NAME)
reg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regressions")
for target in (os.listdir(reg) if os.path.isdir(reg) else []):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    for name in os.listdir(os.path.join(reg, target)):
        with open(os.path.join(reg, target, name), "rb") as src:
            put(os.path.join(out, target), "regression-" + name, src.read())
