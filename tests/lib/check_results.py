#!/usr/bin/python3
"""check_results.py — an independent (pydicom) check of the derived series a
receiver got back from isonode for an analytic sphere phantom.

usage: check_results.py RESULTS_DIR SOURCE_DIR [IDENTITY]
IDENTITY: original (default) — the results carry the source's Patient ID,
Study and Frame of Reference UIDs — or anonymized (pseudonyms only).
Checks: one Surface Segmentation whose meshes are closed and enclose the
sphere's analytic volume within 1 %, secondary captures (views and a
multi-frame cine), an Encapsulated STL and a binary SEG; prints a summary.
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pydicom

SURFACE_SEG = "1.2.840.10008.5.1.4.1.1.66.5"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"
SC = "1.2.840.10008.5.1.4.1.1.7"
MF_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"
STL = "1.2.840.10008.5.1.4.1.1.104.3"


def main(argv):
    results, source = argv[1], argv[2]
    identity = argv[3] if len(argv) > 3 else "original"
    src = [pydicom.dcmread(f, stop_before_pixels=True) for f in glob.glob(os.path.join(source, "*.dcm"))]
    s0 = src[0]
    objs = [pydicom.dcmread(f) for f in sorted(glob.glob(os.path.join(results, "*")))]
    by_class = {}
    for d in objs:
        by_class.setdefault(d.SOPClassUID, []).append(d)
    for cls, want in ((SURFACE_SEG, 1), (SEG, 1), (STL, 1), (MF_TRUE_COLOR_SC, 1), (SC, 3)):
        got = len(by_class.get(cls, []))
        assert got == want, "%d objects of class %s, want %d" % (got, cls, want)
    for d in objs:
        if identity == "original":
            assert d.PatientID == s0.PatientID and d.StudyInstanceUID == s0.StudyInstanceUID, d.SOPClassUID
            # the Patient Study attributes the sender sent come back
            for kw in ("PatientAge", "PatientSize", "PatientWeight"):
                if kw in s0:
                    assert str(d.get(kw)) == str(s0.get(kw)), (d.SOPClassUID, kw, d.get(kw), s0.get(kw))
        else:
            assert d.PatientID.startswith("ANON") and d.StudyInstanceUID != s0.StudyInstanceUID
            for kw in ("PatientAge", "PatientSize", "PatientWeight"):
                assert kw not in d, (d.SOPClassUID, kw)
        # Laterality in the captures where the source has one, never empty;
        # not in the STL (no General Series) nor the segmentations (whose
        # General Series may not carry it: anatomy is per segment there)
        if d.SOPClassUID in (SC, MF_TRUE_COLOR_SC) and s0.get("Laterality"):
            assert d.get("Laterality") == s0.Laterality, (d.SOPClassUID, d.get("Laterality"))
        else:
            assert "Laterality" not in d, (d.SOPClassUID, "Laterality where it does not belong")
    seg = by_class[SURFACE_SEG][0]
    if identity == "original":
        assert seg.FrameOfReferenceUID == s0.FrameOfReferenceUID
    expect = json.loads(subprocess.check_output(
        [sys.executable, os.path.join(os.path.dirname(__file__), "phantom.py"), "expect", "sphere"]))
    want = expect["volume"]
    for surf in seg.SurfaceSequence:
        pts = np.frombuffer(surf.SurfacePointsSequence[0].PointCoordinatesData, dtype="<f4").reshape(-1, 3).astype(float)
        tri = np.frombuffer(surf.SurfaceMeshPrimitivesSequence[0].LongTrianglePointIndexList,
                            dtype="<u4").reshape(-1, 3).astype(np.int64) - 1
        a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
        vol = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
        edges = {}
        for t in tri:
            for k in range(3):
                e = (int(t[k]), int(t[(k + 1) % 3]))
                edges[e] = edges.get(e, 0) + 1
        closed = all(n == 1 for n in edges.values()) and all((v, u) in edges for (u, v) in edges)
        assert closed, "mesh not closed"
        assert abs(vol - want) < 0.01 * want, "volume %.1f, analytic %.1f" % (vol, want)
        print("surface %s: %d triangles, closed, volume %+.3f %% of the analytic sphere" %
              (surf.SurfaceNumber, len(tri), 100 * (vol - want) / want))
    print("%d objects, identity %s" % (len(objs), identity))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
