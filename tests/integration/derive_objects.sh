#!/bin/bash
# Derived DICOM objects from a reconstruction (isonode reconstruct --dicom):
# Secondary Capture views, the multi-frame true colour rotation and
# Encapsulated STL, Surface Segmentation and binary SEG.  dciodvfy reports no error on any of them; pydicom (an
# independent reader) finds the source's Study and Frame of Reference UIDs,
# references to every source instance, Burned In Annotation NO, a cine of 36
# frames, and in the Encapsulated STL and in the Surface Segmentation (its
# points and 1-based triangle indices) a closed, outward mesh enclosing the
# analytic phantom's volume within 1 %, and in the SEG frames whose plane
# geometry puts the voxels at the sphere (volume within 3 %, centre within
# 1 mm in patient coordinates); a second run gives the same UIDs.
. "$top_srcdir/tests/lib/common.sh"
need dciodvfy
need_pydicom
PH="$PY $top_srcdir/tests/lib/phantom.py"
$PH write sphere tilt "$WORK/src" || fail "phantom"
for run in 1 2; do
    "$ISONODE" reconstruct "$WORK/src" --out "$WORK/out$run" --iso 500:ball --sigma 0 --smooth 0 \
        --triangles 0 --dicom --quiet || fail "reconstruct --dicom"
done
n=0
for f in "$WORK/out1/dicom"/*.dcm; do
    errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
    [ -z "$errs" ] || fail "dciodvfy $(basename "$f"): $errs"
    n=$((n + 1))
done
[ "$n" -eq 7 ] || fail "$n objects, want 3 views, 1 rotation, 1 STL, 1 Surface Segmentation, 1 SEG"
ok "$n derived objects, dciodvfy: no errors"
$PY - "$WORK/src" "$WORK/out1/dicom" "$WORK/out2/dicom" "$WORK/ball.stl" <<'PY' || fail "pydicom checks"
import glob, os, sys, pydicom
src = [pydicom.dcmread(f) for f in glob.glob(os.path.join(sys.argv[1], "*.dcm"))]
study, frame = src[0].StudyInstanceUID, src[0].FrameOfReferenceUID
uids = {d.SOPInstanceUID for d in src}
objs = {os.path.basename(f): pydicom.dcmread(f) for f in glob.glob(os.path.join(sys.argv[2], "*.dcm"))}
again = {os.path.basename(f): pydicom.dcmread(f).SOPInstanceUID for f in glob.glob(os.path.join(sys.argv[3], "*.dcm"))}
for name, d in objs.items():
    assert d.StudyInstanceUID == study, name
    assert d.PatientID == src[0].PatientID, name
    assert d.SOPInstanceUID == again[name], "%s: UID differs between runs" % name
    assert d.SOPInstanceUID not in uids and d.SeriesInstanceUID != src[0].SeriesInstanceUID
    if name.startswith(("sc-", "cine-")):
        assert d.BurnedInAnnotation == "NO" and d.PhotometricInterpretation == "RGB"
        assert {i.ReferencedSOPInstanceUID for i in d.SourceImageSequence} == uids, name
        assert d.Rows == d.Columns == (512 if name.startswith("sc-") else 256), name
cine = objs["cine-ball.dcm"]
assert int(cine.NumberOfFrames) == 36 and float(cine.FrameTime) > 0
assert len(cine.PixelData) == 36 * 256 * 256 * 3
assert objs["sc-ball-anterior.dcm"].PatientOrientation == ["L", "F"]
stl = objs["stl-ball.dcm"]
assert stl.Modality == "M3D" and stl.MIMETypeOfEncapsulatedDocument == "model/stl"
assert stl.FrameOfReferenceUID == frame
assert stl.MeasurementUnitsCodeSequence[0].CodeValue == "mm"
refs = {i.ReferencedSOPInstanceUID for s in stl.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence}
assert refs == uids
open(sys.argv[4], "wb").write(bytes(stl.EncapsulatedDocument))
import numpy as np
seg = objs["surface-segmentation.dcm"]
assert seg.Modality == "SEG" and seg.FrameOfReferenceUID == frame and seg.StudyInstanceUID == study
assert int(seg.NumberOfSurfaces) == 1 and seg.SegmentSequence[0].SegmentLabel == "ball"
surf = seg.SurfaceSequence[0]
assert surf.FiniteVolume == "YES" and surf.Manifold == "YES"
pts = np.frombuffer(surf.SurfacePointsSequence[0].PointCoordinatesData, dtype="<f4").reshape(-1, 3).astype(float)
assert len(pts) == int(surf.SurfacePointsSequence[0].NumberOfSurfacePoints)
tri = np.frombuffer(surf.SurfaceMeshPrimitivesSequence[0].LongTrianglePointIndexList, dtype="<u4").reshape(-1, 3).astype(int)
assert tri.min() == 1 and tri.max() == len(pts), "indices are 1-based"
a, b, c = pts[tri[:, 0] - 1], pts[tri[:, 1] - 1], pts[tri[:, 2] - 1]
vol = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
want = 4 / 3 * np.pi * 20.0 ** 3
edges = {}
for t in tri:
    for k in range(3):
        e = (t[k], t[(k + 1) % 3])
        edges[e] = edges.get(e, 0) + 1
closed = all(edges.get((v, u), 0) == 1 for (u, v) in edges) and all(n == 1 for n in edges.values())
print("Surface Segmentation: %d points, %d triangles, volume %+.2f %%, closed and oriented %s" %
      (len(pts), len(tri), 100 * (vol - want) / want, closed))
assert abs(vol - want) < 0.01 * want and closed
sg = objs["segmentation.dcm"]
assert sg.SegmentationType == "BINARY" and sg.FrameOfReferenceUID == frame
frames = sg.pixel_array.reshape(int(sg.NumberOfFrames), sg.Rows, sg.Columns)
iop = np.array(sg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient, float)
ps = [float(x) for x in sg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
thick = float(sg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness)
total, acc = 0, np.zeros(3)
for fr, item in zip(frames, sg.PerFrameFunctionalGroupsSequence):
    ipp = np.array(item.PlanePositionSequence[0].ImagePositionPatient, float)
    j, i = np.nonzero(fr)
    p = ipp + np.outer(i * ps[1], iop[:3]) + np.outer(j * ps[0], iop[3:])
    total += len(i)
    acc += p.sum(axis=0)
seg_vol = total * ps[0] * ps[1] * thick
centre = acc / total
print("SEG: %d frames, %d voxels, volume %+.2f %%, centre off by %.3f mm" %
      (len(frames), total, 100 * (seg_vol - want) / want, np.linalg.norm(centre - np.array([3.7, -5.2, 12.3]))))
assert abs(seg_vol - want) < 0.03 * want
assert np.linalg.norm(centre - np.array([3.7, -5.2, 12.3])) < 1.0
print("%d objects: study, frame of reference, references, cine and UIDs as expected" % len(objs))
PY
$PH check "$WORK/ball.stl" sphere > "$WORK/check.json" || fail "phantom check"
$PH expect sphere > "$WORK/expect.json"
python3 - "$WORK/check.json" "$WORK/expect.json" <<'PY' || fail "STL inside the DICOM object"
import json, sys
c, e = (json.load(open(p)) for p in sys.argv[1:3])
rel = (c["volume"] - e["volume"]) / e["volume"]
print("Encapsulated STL: %d triangles, volume %+.2f %%, Euler %d" % (c["triangles"], 100 * rel, c["euler"]))
assert abs(rel) < 0.01 and c["euler"] == 2 and c["edges_shared_by_two"] == c["edges"]
PY
ok "the Encapsulated STL holds a closed mesh within 1 % of the phantom's volume"

# [surface NAME] sections replace the built-in surfaces, codes included; a
# modality no section names is refused
cat > "$WORK/surf.conf" <<'C'
[surface ball]
modality = CT
iso = 500
type_code = 272673000
type_meaning = Bone
C
"$ISONODE" -c "$WORK/surf.conf" reconstruct "$WORK/src" --out "$WORK/conf" --sigma 0 --smooth 0 \
    --no-render --dicom --quiet || fail "reconstruct with [surface]"
[ -f "$WORK/conf/surface-ball.stl" ] && [ ! -f "$WORK/conf/surface-bone.stl" ] || fail "configured surfaces not used"
$PY -c '
import sys, pydicom
d = pydicom.dcmread(sys.argv[1])
s = d.SegmentSequence
assert len(s) == 1 and s[0].SegmentLabel == "ball", s
assert s[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "272673000"' "$WORK/conf/dicom/surface-segmentation.dcm" \
    || fail "configured codes not in the Surface Segmentation"
printf '[surface head]\nmodality = MR\niso = 100\n' > "$WORK/mr.conf"
rc=0
"$ISONODE" -c "$WORK/mr.conf" reconstruct "$WORK/src" --out "$WORK/mr" --quiet 2> "$WORK/mr.err" || rc=$?
[ "$rc" -eq 3 ] && grep -q "no \[surface\] configured for modality CT" "$WORK/mr.err" || fail "CT series with only an MR surface: exit $rc $(cat "$WORK/mr.err")"
ok "[surface NAME] sections replace the built-in surfaces; an unconfigured modality is refused"
