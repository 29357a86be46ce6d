#!/bin/bash
# Series that hold more than one volume, and images set aside (issue 15).
#   - phantoms: a classic MR series with two echoes and an Enhanced CT object
#     with two temporal positions (each time a 20 mm sphere and, at the same
#     positions, a 12 mm one): each volume, picked with --volume, gives its
#     own sphere's analytic volume; the report says how many volumes there
#     are and which one was reconstructed; the Segmentation made from the
#     enhanced object references exactly the frames of that volume; a
#     localizer and an image of another orientation are set aside;
#   - the shared MR cases: the Philips field map (two image types), the
#     Siemens XA10 time series (four temporal positions), the Siemens prone
#     T1 (one volume), each checked against pydicom's own reading of the
#     headers (the chosen volume's frames: first and last position along
#     the normal, the normal, the spacing); the mosaic is refused for what
#     it is.  Surfaces are closed and consistently oriented.
. "$top_srcdir/tests/lib/common.sh"
need_shared
need_pydicom
need dciodvfy
PH="$PY $top_srcdir/tests/lib/phantom.py"
MR=$SHARED/data/mr
STRICT=(--sigma 0 --smooth 0 --triangles 0 --no-render --quiet)

# surface_ok REPORT SHAPE: the report's first surface against the analytic one
surface_ok() {
    local stl; stl=$(dirname "$1")/$(json_get "$1" 'r["surfaces"][0]["stl"]')
    $PH check "$stl" "$2" > "$WORK/check.json" || return 1
    $PH expect "$2" > "$WORK/expect.json"
    python3 - "$WORK/check.json" "$WORK/expect.json" <<'PY'
import json, sys
c, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rel = (c["volume"] - e["volume"]) / e["volume"]
off = max(abs(a - b) for a, b in zip(c["centroid"], e["centroid"]))
assert abs(rel) < 0.03 and off < 0.3, (rel, off)
assert c["edges"] == c["edges_shared_by_two"] == c["edges_opposite"], c
PY
}

for v in multiecho multiphase; do
    $PH write sphere $v "$WORK/$v" || fail "phantom $v"
    for vol in 1 2; do
        out=$WORK/$v-$vol
        "$ISONODE" reconstruct "$WORK/$v" --out "$out" --iso 500 --volume "$vol" --dicom "${STRICT[@]}" ||
            fail "$v volume $vol"
        shape=sphere; [ "$vol" = 2 ] && shape=small
        surface_ok "$out/report.json" "$shape" || fail "$v volume $vol is not the $shape sphere"
        [ "$(json_get "$out/report.json" '(r["series"]["volumes"], r["series"]["volume"], r["series"]["slices"])')" = "(2, $vol, 49)" ] ||
            fail "$v volume $vol: $(json_get "$out/report.json" 'r["series"]')"
        for f in "$out"/dicom/*.dcm; do
            errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
            [ -z "$errs" ] || fail "dciodvfy $v $(basename "$f"): $errs"
        done
    done
    echo "$v: $(json_get "$WORK/$v-1/report.json" 'r["series"]["volumes_note"]')"
done
json_get "$WORK/multiecho-1/report.json" 'r["series"]["volumes_note"]' | grep -q "^2 volumes of 49 slices by echo (1, 2); reconstructed volume 1 (echo 1)$" ||
    fail "multiecho note"
json_get "$WORK/multiphase-2/report.json" 'r["series"]["volumes_note"]' | grep -q "^4D series: 2 volumes of 49 slices by temporal position (1, 2); reconstructed volume 2 (temporal position 2)$" ||
    fail "multiphase note"
# the enhanced object's Segmentation names exactly the frames of its volume
$PY - "$WORK/multiphase" "$WORK/multiphase-1/dicom/segmentation.dcm" "$WORK/multiphase-2/dicom/segmentation.dcm" <<'PY' || fail "Referenced Frame Numbers"
import json, sys, pydicom
want = json.load(open(sys.argv[1] + "/frames.json"))
for t, seg in (("1", sys.argv[2]), ("2", sys.argv[3])):
    d = pydicom.dcmread(seg)
    src = d.SharedFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence
    got = sorted(int(x) for x in src[0].ReferencedFrameNumber)
    assert got == sorted(want[t]), (t, got, want[t])
PY
# volumes = largest: equal sizes keep the first
"$ISONODE" reconstruct "$WORK/multiecho" --out "$WORK/largest" --iso 500 --volumes largest "${STRICT[@]}" ||
    fail "--volumes largest"
[ "$(json_get "$WORK/largest/report.json" 'r["series"]["volume"]')" = 1 ] || fail "largest of equals"
# volumes = all: volume 1 in OUT, volume 2 in OUT/volume-2
"$ISONODE" reconstruct "$WORK/multiecho" --out "$WORK/all" --iso 500 --volumes all "${STRICT[@]}" ||
    fail "--volumes all"
surface_ok "$WORK/all/report.json" sphere && surface_ok "$WORK/all/volume-2/report.json" small ||
    fail "--volumes all: the two spheres"
ok "two echoes (classic MR) and two temporal positions (Enhanced CT): each volume reconstructs to its own sphere; the report and the SEG's frame references name the volume; --volumes all makes both"

# the daemon with volumes = all: one job, both volumes, two result series
. "$top_srcdir/tests/lib/e2e.sh"
write_conf "" "[reconstruct]
settle_seconds = 1
volumes = all
render = no"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/multiecho"/*.dcm || fail "storescu multiecho"
wait_jobs_done 1 120 || fail "the job did not end: $(node jobs list)"
result=$(node jobs list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["result"])')
echo "job: $result"
case $result in
    "volume 1: reconstructed 1 surfaces, "*"(2 volumes of 49 slices by echo (1, 2); reconstructed volume 1 (echo 1))"*"; volume 2: reconstructed 1 surfaces, "*) ;;
    *) fail "job result: $result" ;;
esac
series=$(node ls series --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
stop_node
[ "$series" -ge 3 ] || fail "the store holds $series series: not the source and two result series"
ok "[reconstruct] volumes = all: one job reconstructs both volumes, each into results of its own"

$PH write sphere scouts "$WORK/scouts" || fail "phantom scouts"
"$ISONODE" reconstruct "$WORK/scouts" --out "$WORK/scouts-out" --iso 500 "${STRICT[@]}" || fail "scouts refused"
surface_ok "$WORK/scouts-out/report.json" sphere || fail "scouts: not the sphere"
[ "$(json_get "$WORK/scouts-out/report.json" 'r["series"]["set_aside_note"]')" = "set aside 1 localizer and 1 image of another orientation or size" ] ||
    fail "scouts: $(json_get "$WORK/scouts-out/report.json" 'r["series"]')"
ok "a localizer and an image of another orientation are set aside, not a reason to refuse"

# the shared MR cases against pydicom's reading of the headers
# independent DIR WHICH: prints the chosen volume's first and last
# position, normal and median step (pydicom, no isonode code)
independent() {
    $PY - "$1" "$2" <<'PY'
import glob, json, sys
import numpy as np, pydicom
frames = []
for f in sorted(glob.glob(sys.argv[1] + "/*")):
    d = pydicom.dcmread(f)
    if "PerFrameFunctionalGroupsSequence" in d:
        sh = d.SharedFunctionalGroupsSequence[0]
        for k, it in enumerate(d.PerFrameFunctionalGroupsSequence):
            g = lambda name: getattr(it, name, None) or getattr(sh, name)
            iop = [float(x) for x in g("PlaneOrientationSequence")[0].ImageOrientationPatient]
            ipp = [float(x) for x in it.PlanePositionSequence[0].ImagePositionPatient]
            ftype = g("MRImageFrameTypeSequence")[0].FrameType[3]
            tpi = int(it.FrameContentSequence[0].TemporalPositionIndex)
            frames.append((iop, ipp, ftype, tpi, k + 1))
    else:
        frames.append(([float(x) for x in d.ImageOrientationPatient],
                       [float(x) for x in d.ImagePositionPatient], d.ImageType[3] if len(d.ImageType) > 3 else "", 1, 1))
which = sys.argv[2]
if which == "type-M":
    frames = [f for f in frames if f[2] == "M"]
elif which == "tpi-1":
    frames = [f for f in frames if f[3] == 1]
iop = np.array(frames[0][0])
n = np.cross(iop[:3], iop[3:])
frames.sort(key=lambda f: float(np.dot(n, f[1])))
d = [float(np.dot(n, f[1])) for f in frames]
print(json.dumps({"first": frames[0][1], "last": frames[-1][1], "normal": list(n),
                  "step": float(np.median(np.diff(d))), "n": len(frames),
                  "frames": sorted(f[4] for f in frames)}))
PY
}
# agree REPORT JSON: the report's geometry is pydicom's
agree() {
    python3 - "$1" "$2" <<'PY'
import json, sys
r, e = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
g = r["geometry"]
close = lambda a, b, t: all(abs(x - y) <= t for x, y in zip(a, b))
assert r["series"]["slices"] == e["n"], (r["series"]["slices"], e["n"])
assert close(g["first_slice_position_mm"], e["first"], 0.01), (g["first_slice_position_mm"], e["first"])
assert close(g["last_slice_position_mm"], e["last"], 0.01), (g["last_slice_position_mm"], e["last"])
assert close(g["normal"], e["normal"], 1e-4), (g["normal"], e["normal"])
assert abs(g["acquired_spacing_mm"][2] - e["step"]) < 0.01, (g["acquired_spacing_mm"], e["step"])
for s in r["surfaces"]:
    assert s["closed"] and s["manifold"] and s["oriented"], s
PY
}
for c in "philips-enh-fieldmap type-M 2" "siemens-xa10-enh-fmri tpi-1 4" "siemens-t1-prone all 1"; do
    set -- $c
    "$ISONODE" reconstruct "$MR/$1" --out "$WORK/$1" --dicom --no-render --quiet || fail "$1 refused: $(cat "$WORK/$1/report.json" 2>/dev/null | head -3)"
    e=$(independent "$MR/$1" "$2") || fail "$1: pydicom"
    agree "$WORK/$1/report.json" "$e" || fail "$1: geometry differs from pydicom's"
    [ "$(json_get "$WORK/$1/report.json" '(r["series"]["volumes"], r["series"]["volume"])')" = "($3, 1)" ] ||
        fail "$1: volumes $(json_get "$WORK/$1/report.json" 'r["series"]')"
    for f in "$WORK/$1"/dicom/*.dcm; do
        errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
        [ -z "$errs" ] || fail "dciodvfy $1 $(basename "$f"): $errs"
    done
    echo "$1: $(json_get "$WORK/$1/report.json" 'r["series"]["volumes_note"] or "one volume"')"
done
json_get "$WORK/philips-enh-fieldmap/report.json" 'r["series"]["volumes_note"]' | grep -q "^2 volumes of 32 slices by image type" ||
    fail "field map note"
json_get "$WORK/siemens-xa10-enh-fmri/report.json" 'r["series"]["volumes_note"]' | grep -q "^4D series: 4 volumes of 6 slices by temporal position" ||
    fail "XA10 note"
# the field map's derived objects name the magnitude frames only
$PY - "$WORK/philips-enh-fieldmap/dicom/segmentation.dcm" "$(independent "$MR/philips-enh-fieldmap" type-M)" <<'PY' || fail "field map frame references"
import json, sys, pydicom
d = pydicom.dcmread(sys.argv[1])
src = d.SharedFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence
got = sorted(int(x) for x in src[0].ReferencedFrameNumber)
assert got == json.loads(sys.argv[2])["frames"], got
PY
# the prone head: the face lies anterior (LPS: -y), as pydicom's own
# tissue centroid says the head does
$PY - "$MR/siemens-t1-prone" "$WORK/siemens-t1-prone/report.json" "$top_srcdir/tests/lib" <<'PY' || fail "prone T1: the head is not where the images put it"
import glob, json, sys
import numpy as np, pydicom
sys.path.insert(0, sys.argv[3])
import phantom
pts, w = [], []
for f in glob.glob(sys.argv[1] + "/*"):
    d = pydicom.dcmread(f)
    a = d.pixel_array.astype(float)
    iop = np.array([float(x) for x in d.ImageOrientationPatient])
    ipp = np.array([float(x) for x in d.ImagePositionPatient])
    ps = [float(x) for x in d.PixelSpacing]
    r, c = np.nonzero(a > a.mean() * 2)
    p = ipp + np.outer(c * ps[1], iop[:3]) + np.outer(r * ps[0], iop[3:])
    pts.append(p)
tissue = np.concatenate(pts).mean(axis=0)
r = json.load(open(sys.argv[2]))
stl = sys.argv[2].rsplit("/", 1)[0] + "/" + r["surfaces"][0]["stl"]
mesh = phantom.check(stl)["centroid"]
_, tri = phantom.read_stl(stl)
y = tri.reshape(-1, 3)[:, 1]
print("tissue centroid", tissue.round(1), "surface centroid", np.round(mesh, 1),
      "anterior extent", round(float(mesh[1] - y.min()), 1), "posterior", round(float(y.max() - mesh[1]), 1))
assert np.linalg.norm(tissue - np.array(mesh)) < 15, "centroids apart"
assert y.min() < mesh[1] - 60, "no face in front of the centroid"
PY
rc=0
"$ISONODE" reconstruct "$MR/siemens-dwi-mosaic" --out "$WORK/mosaic" --quiet 2> "$WORK/err-mosaic" || rc=$?
[ "$rc" = 3 ] && grep -q "refused: a Siemens mosaic (25 images tiled in each frame): not supported" "$WORK/err-mosaic" ||
    fail "mosaic: exit $rc, $(cat "$WORK/err-mosaic")"
ok "shared MR: field map (2 image types) and XA10 time series (4 temporal positions) split, the chosen volume's geometry is pydicom's, its frames referenced; the prone T1's head lies where pydicom puts it; the mosaic is refused with its reason"
