#!/usr/bin/python3
"""geomcheck.py — does a mesh sit where the series says the surface is?

An independent check of patient-space geometry for real series (tilted,
unevenly spaced): the series is read with pydicom and sampled directly from
its own slices (bilinear in each slice's pixel grid, measured from that
slice's Image Position; linear between the two slices around the point
along the normal) — no resampled volume involved.  For triangles of the
STL, the value 1 mm outside the surface (along the facet normal) must be
below the iso-value and 1 mm inside above it.

usage: geomcheck.py SERIES_DIR STL ISO [SHIFT_MM]
prints the fraction of sampled triangles that agree; SHIFT_MM moves the
mesh along +z first (to show the check can fail)."""
import glob
import os
import struct
import sys

import numpy as np
import pydicom

d, stl, iso = sys.argv[1], sys.argv[2], float(sys.argv[3])
shift = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
sl = []
for f in sorted(glob.glob(os.path.join(d, "*"))):
    try:
        x = pydicom.dcmread(f)
    except Exception:
        continue
    if "PixelData" not in x:
        continue
    img = x.pixel_array.astype(np.float64) * float(x.get("RescaleSlope", 1)) + float(x.get("RescaleIntercept", 0))
    sl.append((np.array(x.ImagePositionPatient, float), img))
iop = np.array(pydicom.dcmread(glob.glob(os.path.join(d, "*"))[0]).ImageOrientationPatient, float)
first = pydicom.dcmread(sorted(glob.glob(os.path.join(d, "*")))[0])
ps = [float(v) for v in first.PixelSpacing]
row, col = iop[:3], iop[3:]
n = np.cross(row, col)
sl.sort(key=lambda s: float(n @ s[0]))
depth = np.array([float(n @ s[0]) for s in sl])


def slice_value(k, p):
    pos, img = sl[k]
    i = (p - pos) @ row / ps[1]
    j = (p - pos) @ col / ps[0]
    if not (0 <= i <= img.shape[1] - 1 and 0 <= j <= img.shape[0] - 1):
        return None
    i0, j0 = min(int(i), img.shape[1] - 2), min(int(j), img.shape[0] - 2)
    fi, fj = i - i0, j - j0
    a, b = img[j0, i0], img[j0, i0 + 1]
    c, e = img[j0 + 1, i0], img[j0 + 1, i0 + 1]
    return (a * (1 - fi) + b * fi) * (1 - fj) + (c * (1 - fi) + e * fi) * fj


def value(p):
    dd = float(n @ p)
    if dd < depth[0] or dd > depth[-1]:
        return None
    k = min(int(np.searchsorted(depth, dd, side="right")) - 1, len(sl) - 2)
    t = (dd - depth[k]) / (depth[k + 1] - depth[k])
    a, b = slice_value(k, p), slice_value(k + 1, p)
    if a is None or b is None:
        return None
    return a * (1 - t) + b * t


with open(stl, "rb") as f:
    b = f.read()
nt = struct.unpack("<I", b[80:84])[0]
arr = np.frombuffer(b, dtype=np.uint8, offset=84).reshape(nt, 50)
fl = np.ascontiguousarray(arr[:, :48]).view("<f4").reshape(nt, 12).astype(np.float64)
normals, tri = fl[:, :3], fl[:, 3:].reshape(nt, 3, 3)
rng = np.random.default_rng(5)
good = total = 0
for t in rng.choice(nt, size=min(1500, nt), replace=False):
    c = tri[t].mean(axis=0) + np.array([0, 0, shift])
    m = normals[t]
    out, inn = value(c + m), value(c - m)
    if out is None or inn is None:
        continue
    total += 1
    good += out < iso < inn
print("%.4f %d" % (good / max(total, 1), total))
