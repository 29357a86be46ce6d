#!/usr/bin/python3
"""phantom.py — analytic test series for the reconstruction engine, and an
independent check of the meshes it writes.

Series are written with pydicom (an independent DICOM writer), as CT
images whose pixel value is 1000 x the fraction of the voxel inside the
shape (partial volume, 4x4x4 sub-samples per voxel), so the true surface is
the 500 iso-level.  Geometry variants:

  axial      IOP 1\\0\\0\\0\\1\\0, even spacing, files in shuffled order
  oblique    rotated about all three axes
  tilt       gantry tilt of 20 degrees: tilted planes stacked along z (sheared)
  uneven     axial with gaps from 0.8 to 2.0 mm
  multiframe one Enhanced CT object, per-frame functional groups, frames shuffled
  signed12   axial, stored as signed 12-bit values (two's complement) with
             other bits set above Bits Stored, Rescale Intercept 1000
  scaled     axial, MR, values 3.7 x + 200 (for intensity normalization)
  modlut     axial, stored values x / 2 mapped back by a Modality LUT Sequence
  multiecho  axial MR, two echoes at every position (Echo Numbers 1 and 2): echo 1
             the shape, echo 2 a sphere of radius 12 mm (shape "small") at its centre
  multiphase one Enhanced CT object, two temporal positions (Frame Content's
             Temporal Position Index 1 and 2) of the same kind, frames shuffled
  scouts     axial, plus a LOCALIZER image and one in another orientation, which
             the engine must set aside

usage:
  phantom.py write SHAPE VARIANT OUTDIR        SHAPE: sphere | torus
  phantom.py refuse CASE OUTDIR                series the engine must refuse
  phantom.py check STL SHAPE                   prints JSON: volume, centroid,
                                               euler, edge and orientation checks
  phantom.py expect SHAPE                      prints the analytic volume and centre
"""
import json
import math
import os
import random
import struct
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"

SPHERE = {"center": (3.7, -5.2, 12.3), "radius": 20.0}
SMALL = {"center": SPHERE["center"], "radius": 12.0}  # the second volume of multiecho/multiphase
TORUS = {"center": (-2.3, 4.1, 8.6), "major": 19.0, "minor": 9.0}


def inside(shape, p):
    """p: (..., 3) patient coordinates -> boolean array."""
    if shape in ("sphere", "small"):
        s = SPHERE if shape == "sphere" else SMALL
        c = np.array(s["center"])
        return np.sum((p - c) ** 2, axis=-1) <= s["radius"] ** 2
    c = np.array(TORUS["center"])
    q = p - c
    rho = np.sqrt(q[..., 0] ** 2 + q[..., 1] ** 2)
    return (rho - TORUS["major"]) ** 2 + q[..., 2] ** 2 <= TORUS["minor"] ** 2


def expected(shape):
    if shape in ("sphere", "small"):
        s = SPHERE if shape == "sphere" else SMALL
        return 4.0 / 3.0 * math.pi * s["radius"] ** 3, s["center"]
    return 2 * math.pi ** 2 * TORUS["major"] * TORUS["minor"] ** 2, TORUS["center"]


def rotation(ax, ay, az):
    ax, ay, az = (math.radians(a) for a in (ax, ay, az))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def geometry(variant, shape):
    """-> row, col, positions (list of 3-vectors), pixel spacing, thickness, n."""
    c = np.array(SPHERE["center"] if shape in ("sphere", "small") else TORUS["center"])
    n_px, ps = 64, 1.0
    half = (n_px - 1) / 2 * ps
    row, col = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    if variant == "oblique":
        r = rotation(20, 30, 10)
        row, col = r @ row, r @ col
    if variant == "tilt":
        t = math.radians(20)
        row, col = np.array([1.0, 0, 0]), np.array([0, math.cos(t), -math.sin(t)])
    normal = np.cross(row, col)
    if variant == "uneven":
        gaps = [0.8, 1.3, 2.0, 1.0, 1.6, 0.9, 1.8, 1.2]
        d, depths = -30.0, []
        i = 0
        while d <= 30.0:
            depths.append(d)
            d += gaps[i % len(gaps)]
            i += 1
        thickness = 1.0
    else:
        step = 1.25
        depths = list(np.arange(-30.0, 30.0 + 1e-9, step))
        thickness = step
    positions = []
    for d in depths:
        if variant == "tilt":
            # the table moves along z; the tilted plane through c + (0,0,d)
            centre = c + np.array([0, 0, d])
        else:
            centre = c + d * normal
        positions.append(centre - half * row - half * col)
    return row, col, positions, ps, thickness, n_px, normal


def sample_slice(shape, origin, row, col, normal, ps, thickness, n_px):
    """Partial-volume fraction per pixel: 4x4 in plane, 4 through the slice."""
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    i = np.arange(n_px)
    acc = np.zeros((n_px, n_px))
    for a in sub:
        for b in sub:
            for c in sub:
                u = (i[None, :] + a) * ps
                v = (i[:, None] + b) * ps
                w = c * thickness
                p = (origin[None, None, :] + u[..., None] * row[None, None, :]
                     + v[..., None] * col[None, None, :] + w * normal[None, None, :])
                acc += inside(shape, p)
    return acc / 64.0


def base_dataset(sop_class, study, series, frame_of_ref):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = frame_of_ref
    ds.Modality = "CT"
    ds.PatientName = "Phantom^Analytic"
    ds.PatientID = "PHANTOM"
    ds.StudyDate = "20260101"
    ds.PatientAge = "047Y"     # Patient Study: results give them back to the sender
    ds.PatientSize = "1.75"
    ds.PatientWeight = "72.5"
    ds.BodyPartExamined = "KNEE"  # a paired part, so Laterality belongs
    ds.Laterality = "R"
    ds.SeriesNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    return ds


def fmt(v):
    return [float("%.6f" % x) for x in v]


def write_series(shape, variant, out, n_slices_limit=None, mutate=None):
    os.makedirs(out, exist_ok=True)
    row, col, positions, ps, thick, n_px, normal = geometry(variant, shape)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    if n_slices_limit:
        positions = positions[:n_slices_limit]
    frames = []
    for k, pos in enumerate(positions):
        frac = sample_slice(shape, np.asarray(pos), row, col, normal, ps, thick, n_px)
        frames.append(np.rint(frac * 1000).astype(np.int16))
    order = list(range(len(positions)))
    random.Random(7).shuffle(order)
    if variant in ("multiecho", "multiphase"):
        second = [np.rint(sample_slice("small", np.asarray(pos), row, col, normal, ps, thick, n_px)
                          * 1000).astype(np.int16) for pos in positions]
    if variant == "multiphase":
        ds = base_dataset(ENHANCED_CT, study, series, frame)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Rows = ds.Columns = n_px
        shared = Dataset()
        pm = Dataset()
        pm.PixelSpacing = [ps, ps]
        pm.SliceThickness = thick
        shared.PixelMeasuresSequence = [pm]
        po = Dataset()
        po.ImageOrientationPatient = fmt(list(row) + list(col))
        shared.PlaneOrientationSequence = [po]
        pvt = Dataset()
        pvt.RescaleIntercept = 0
        pvt.RescaleSlope = 1
        pvt.RescaleType = "HU"
        shared.PixelValueTransformationSequence = [pvt]
        ds.SharedFunctionalGroupsSequence = [shared]
        both = [(t, k) for t in (1, 2) for k in range(len(positions))]
        random.Random(11).shuffle(both)
        per = []
        for t, k in both:
            it = Dataset()
            pp = Dataset()
            pp.ImagePositionPatient = fmt(positions[k])
            it.PlanePositionSequence = [pp]
            fc = Dataset()
            fc.TemporalPositionIndex = t
            it.FrameContentSequence = [fc]
            per.append(it)
        ds.NumberOfFrames = len(both)
        ds.PerFrameFunctionalGroupsSequence = per
        ds.PixelData = b"".join((frames[k] if t == 1 else second[k]).tobytes() for t, k in both)
        ds.save_as(os.path.join(out, "enhanced.dcm"), write_like_original=False)
        # which frames (1-based) hold each temporal position, for the test
        with open(os.path.join(out, "frames.json"), "w") as f:
            json.dump({str(t): [i + 1 for i, (tt, _) in enumerate(both) if tt == t] for t in (1, 2)}, f)
        return
    if variant == "multiframe":
        ds = base_dataset(ENHANCED_CT, study, series, frame)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Rows = ds.Columns = n_px
        ds.NumberOfFrames = len(positions)
        shared = Dataset()
        pm = Dataset()
        pm.PixelSpacing = [ps, ps]
        pm.SliceThickness = thick
        shared.PixelMeasuresSequence = [pm]
        po = Dataset()
        po.ImageOrientationPatient = fmt(list(row) + list(col))
        shared.PlaneOrientationSequence = [po]
        pvt = Dataset()
        pvt.RescaleIntercept = 0
        pvt.RescaleSlope = 1
        pvt.RescaleType = "HU"
        shared.PixelValueTransformationSequence = [pvt]
        ds.SharedFunctionalGroupsSequence = [shared]
        per = []
        for k in order:
            it = Dataset()
            pp = Dataset()
            pp.ImagePositionPatient = fmt(positions[k])
            it.PlanePositionSequence = [pp]
            per.append(it)
        ds.PerFrameFunctionalGroupsSequence = per
        ds.PixelData = b"".join(frames[k].tobytes() for k in order)
        ds.save_as(os.path.join(out, "enhanced.dcm"), write_like_original=False)
        return
    for n, k in enumerate(order):
        ds = base_dataset(CT_IMAGE, study, series, frame)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = n + 1  # deliberately not the spatial order
        ds.ImagePositionPatient = fmt(positions[k])
        ds.ImageOrientationPatient = fmt(list(row) + list(col))
        ds.PixelSpacing = [ps, ps]
        ds.SliceThickness = thick
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.Rows = ds.Columns = n_px
        ds.PixelData = frames[k].tobytes()
        if variant == "signed12":
            # v - 1000 in 12-bit two's complement; bits 12..15 hold junk that
            # a reader must mask off (High Bit 11)
            raw = (frames[k].astype(np.int32) - 1000) & 0x0FFF | 0x5000
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 1
            ds.RescaleIntercept = 1000
            ds.PixelData = raw.astype(np.uint16).tobytes()
        if variant == "scaled":
            ds.Modality = "MR"
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            ds.PixelRepresentation = 0
            ds.PixelData = (frames[k].astype(np.int32) * 37 // 10 + 200).astype(np.uint16).tobytes()
            del ds.RescaleIntercept
            del ds.RescaleSlope
        if variant == "modlut":
            ds.PixelRepresentation = 0
            ds.PixelData = (frames[k].astype(np.int32) // 2).astype(np.uint16).tobytes()
            del ds.RescaleIntercept
            del ds.RescaleSlope
            lut = Dataset()
            lut.add_new((0x0028, 0x3002), "US", [501, 0, 16])  # LUT Descriptor
            lut.ModalityLUTType = "HU"
            lut.add_new((0x0028, 0x3006), "US", [2 * i for i in range(501)])  # LUT Data
            ds.ModalityLUTSequence = [lut]
        if variant == "multiecho":
            ds.Modality = "MR"
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
            ds.EchoNumbers = 1
            ds.EchoTime = 10
        if mutate:
            mutate(ds, n)
        ds.save_as(os.path.join(out, "slice%03d.dcm" % n), write_like_original=False)
        if variant == "multiecho":  # the second echo at the same position
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.EchoNumbers = 2
            ds.EchoTime = 20
            ds.InstanceNumber = len(positions) + n + 1
            ds.PixelData = second[k].tobytes()
            ds.save_as(os.path.join(out, "echo2-slice%03d.dcm" % n), write_like_original=False)
    if variant == "scouts":  # a localizer, and an image of another orientation
        for name, iop, loc in (("scout-loc", [1, 0, 0, 0, 0, -1], True),
                               ("scout-sag", [0, 1, 0, 0, 0, -1], False)):
            ds = base_dataset(CT_IMAGE, study, series, frame)
            ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if loc else "AXIAL"]
            ds.InstanceNumber = 900 + len(name)
            ds.ImagePositionPatient = fmt(positions[0])
            ds.ImageOrientationPatient = fmt(iop)
            ds.PixelSpacing = [ps, ps]
            ds.SliceThickness = thick
            ds.RescaleIntercept = 0
            ds.RescaleSlope = 1
            ds.Rows = ds.Columns = n_px
            ds.PixelData = np.full((n_px, n_px), 1000, np.int16).tobytes()
            ds.save_as(os.path.join(out, name + ".dcm"), write_like_original=False)


def refuse(case, out):
    """Writes a small series the engine must refuse; prints the reason word
    the refusal must contain."""
    if case == "single":
        write_series("sphere", "axial", out, n_slices_limit=1)
        return "single slice"

    def localizer(ds, n):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]

    # half the slices: no shape is the series' own (a few would be set
    # aside as scouts instead)
    def mixed_orientation(ds, n):
        if n % 2 == 0:
            ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]

    def mixed_size(ds, n):
        if n % 2 == 0:
            ds.Rows = ds.Columns = 32
            ds.PixelData = ds.PixelData[: 32 * 32 * 2]

    def duplicate(ds, n):
        if n == 5:
            ds.ImagePositionPatient = [float(x) for x in first_pos]

    def rgb(ds, n):
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(ds.Rows * ds.Columns * 3)

    def gap(ds, n):
        # every slice above the centre moves 25 mm up: one wide gap
        p = [float(x) for x in ds.ImagePositionPatient]
        if p[2] > SPHERE["center"][2]:
            ds.ImagePositionPatient = [p[0], p[1], p[2] + 25.0]

    first_pos = None
    if case == "duplicate":
        row, col, positions, *_ = geometry("axial", "sphere")
        positions = positions[:12]  # as write_series below
        order = list(range(len(positions)))
        random.Random(7).shuffle(order)
        first_pos = positions[order[0]]
    table = {
        "localizer": (localizer, "localizer"),
        "mixed-orientation": (mixed_orientation, "mixed orientations"),
        "mixed-size": (mixed_size, "mixed image sizes"),
        "duplicate": (duplicate, "no attribute tells apart"),
        "rgb": (rgb, "unsupported pixel format"),
        "gap": (gap, "gap of"),
    }
    fn, word = table[case]
    write_series("sphere", "axial", out, n_slices_limit=12 if case != "gap" else None, mutate=fn)
    return word


def read_stl(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<I", b[80:84])[0]
    if len(b) != 84 + 50 * n:
        raise SystemExit("%s: %d bytes for %d triangles" % (path, len(b), n))
    a = np.frombuffer(b, dtype=np.uint8, offset=84).reshape(n, 50)
    f = np.ascontiguousarray(a[:, 0:48]).view("<f4").reshape(n, 12)
    return f[:, 0:3].astype(np.float64), f[:, 3:12].reshape(n, 3, 3).astype(np.float64)


def check(stl):
    normals, tri = read_stl(stl)
    # weld by exact coordinates: isonode writes each shared vertex once
    flat = tri.reshape(-1, 3)
    _, idx = np.unique(flat, axis=0, return_inverse=True)
    idx = idx.reshape(-1, 3)
    n_vertices = int(idx.max()) + 1
    edges = {}
    for t in idx:
        for k in range(3):
            a, b = int(t[k]), int(t[(k + 1) % 3])
            key = (min(a, b), max(a, b))
            edges.setdefault(key, []).append(a < b)
    uses = [len(v) for v in edges.values()]
    two = sum(1 for u in uses if u == 2)
    opposite = sum(1 for v in edges.values() if len(v) == 2 and v[0] != v[1])
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    cross = np.cross(b - a, c - a)
    vol6 = np.einsum("ij,ij->i", a, np.cross(b, c))
    volume = vol6.sum() / 6.0
    centroid = ((a + b + c) * vol6[:, None]).sum(axis=0) / 4.0 / vol6.sum()
    # stored facet normals agree with the winding (outward when volume > 0)
    unit = cross / np.maximum(np.linalg.norm(cross, axis=1)[:, None], 1e-30)
    agree = float(np.mean(np.einsum("ij,ij->i", unit, normals) > 0.99))
    return {
        "triangles": int(len(tri)),
        "vertices": n_vertices,
        "edges": len(edges),
        "edges_shared_by_two": two,
        "edges_opposite": opposite,
        "euler": n_vertices - len(edges) + len(tri),
        "volume": float(volume),
        "centroid": [float(x) for x in centroid],
        "facet_normals_agree": agree,
    }


def main(argv):
    if len(argv) >= 5 and argv[1] == "write":
        write_series(argv[2], argv[3], argv[4])
        return 0
    if len(argv) >= 4 and argv[1] == "refuse":
        print(refuse(argv[2], argv[3]))
        return 0
    if len(argv) >= 4 and argv[1] == "check":
        print(json.dumps(check(argv[2])))
        return 0
    if len(argv) >= 3 and argv[1] == "expect":
        v, c = expected(argv[2])
        print(json.dumps({"volume": v, "centroid": list(c)}))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
