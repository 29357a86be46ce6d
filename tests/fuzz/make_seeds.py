#!/usr/bin/env python3
"""make_seeds.py OUTDIR SHARED — seed corpora for the fuzz targets: the data
sets of ../shared/data/ts (one per transfer syntax) for data set parsing and
image decoding, and whole conversations (association, C-ECHO, C-STORE,
release) built with tests/lib/dicomtool.py."""
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
conv = t.associate_rq(contexts=((1, t.CT_IMAGE, t.EXPLICIT_LE), (3, t.VERIFICATION, t.IMPLICIT_LE)))
conv += t.pdata(3, t.c_echo_rq(), True)
conv += t.pdata(1, t.c_store_rq(t.CT_IMAGE, "1.2.3.4.5"), True)
conv += t.pdata(1, t.dataset(sop_instance="1.2.3.4.5"), False)
conv += struct.pack(">BBI", 5, 0, 4) + b"\0" * 4
with open(os.path.join(as_dir, "store"), "wb") as f:
    f.write(conv)
with open(os.path.join(as_dir, "echo"), "wb") as f:
    f.write(t.associate_rq(contexts=((1, t.VERIFICATION, t.IMPLICIT_LE),))
            + t.pdata(1, t.c_echo_rq(), True) + struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
