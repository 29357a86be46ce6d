#!/bin/bash
# Reconstruction geometry against analytic phantoms.  A sphere and a torus,
# sampled with partial volume and written as CT series by pydicom, in five
# geometries: axial, oblique, gantry-tilted (sheared), unevenly spaced, and
# one Enhanced CT multi-frame object; files and frames are shuffled and
# Instance Numbers do not follow position.  For each, at the mid-level
# iso-value, checked from the STL by an independent reader (phantom.py):
#   - enclosed volume within 1 % of the analytic volume, and the centroid
#     of the enclosed volume within 1 mm of the true centre (engine run:
#     no smoothing, no decimation, so the geometry is the engine's own);
#   - Euler characteristic 2 (sphere) or 0 (torus), every edge shared by
#     exactly two triangles traversing it in opposite directions, positive
#     signed volume (counter-clockwise seen from outside), facet normals
#     agreeing with the winding — after the default pipeline too
#     (Gaussian, Taubin smoothing, decimation to a small budget).
. "$top_srcdir/tests/lib/common.sh"
need_pydicom
PH="$PY $top_srcdir/tests/lib/phantom.py"

check_mesh() {  # STL SHAPE LABEL STRICT(1|0)
    local stl=$1 shape=$2 label=$3 strict=$4
    $PH check "$stl" "$shape" > "$WORK/check.json" || fail "$label: phantom.py check"
    $PH expect "$shape" > "$WORK/expect.json"
    python3 - "$WORK/check.json" "$WORK/expect.json" "$shape" "$strict" "$label" <<'PY' || exit 1
import json, math, sys
c, e = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
shape, strict, label = sys.argv[3], sys.argv[4] == "1", sys.argv[5]
bad = []
want_euler = 2 if shape == "sphere" else 0
if c["euler"] != want_euler: bad.append("Euler %d, want %d" % (c["euler"], want_euler))
if c["edges_shared_by_two"] != c["edges"]: bad.append("%d of %d edges not shared by two triangles" % (c["edges"] - c["edges_shared_by_two"], c["edges"]))
if c["edges_opposite"] != c["edges"]: bad.append("%d edges traversed the same way twice" % (c["edges"] - c["edges_opposite"]))
if c["volume"] <= 0: bad.append("signed volume %.1f: not oriented outward" % c["volume"])
if c["facet_normals_agree"] < 0.999: bad.append("facet normals disagree with winding (%.4f)" % c["facet_normals_agree"])
rel = (c["volume"] - e["volume"]) / e["volume"]
dist = math.dist(c["centroid"], e["centroid"])
if strict:
    if abs(rel) > 0.01: bad.append("volume %.1f vs %.1f mm3 (%.2f %%)" % (c["volume"], e["volume"], 100 * rel))
    if dist > 1.0: bad.append("centroid %.3f mm from the true centre" % dist)
print("%s: %d triangles, volume %+.2f %%, centroid off by %.3f mm, Euler %d" % (label, c["triangles"], 100 * rel, dist, c["euler"]))
if bad:
    print("FAIL: %s: %s" % (label, "; ".join(bad)), file=sys.stderr)
    sys.exit(1)
PY
}

for shape in sphere torus; do
    for variant in axial oblique tilt uneven multiframe; do
        dir=$WORK/$shape-$variant
        $PH write "$shape" "$variant" "$dir" || fail "phantom.py write $shape $variant"
        "$ISONODE" reconstruct "$dir" --out "$WORK/out-$shape-$variant" --iso 500:mid \
            --sigma 0 --smooth 0 --triangles 0 --no-render --quiet \
            || fail "reconstruct $shape $variant (engine run)"
        check_mesh "$WORK/out-$shape-$variant/surface-mid.stl" "$shape" "$shape $variant engine" 1
        "$ISONODE" reconstruct "$dir" --out "$WORK/def-$shape-$variant" --iso 500:mid \
            --triangles 6000 --no-render --quiet || fail "reconstruct $shape $variant (defaults)"
        check_mesh "$WORK/def-$shape-$variant/surface-mid.stl" "$shape" "$shape $variant pipeline" 0
        r=$WORK/out-$shape-$variant/report.json
        case $variant in
            tilt) t=$(json_get "$r" 'r["geometry"]["tilt_deg"]')
                  python3 -c "import sys; sys.exit(abs($t - 20) > 0.05)" || fail "tilt found: $t deg" ;;
            uneven) [ "$(json_get "$r" 'r["geometry"]["uneven"]')" = True ] || fail "uneven not noticed" ;;
            multiframe) [ "$(json_get "$r" 'r["series"]["multiframe"]')" = True ] || fail "multiframe not noticed" ;;
        esac
    done
done
ok "sphere and torus in 5 geometries: volume within 1 %, centroid within 1 mm, closed oriented manifolds of the right Euler characteristic"

# pixel encodings: signed 12-bit stored values with junk above High Bit and
# a Rescale Intercept decode to the same volume, hence the same mesh, byte
# for byte; MR values 3.7 v + 200 with --normalize give the same surface
$PH write sphere signed12 "$WORK/sphere-signed12" || fail "phantom.py write signed12"
"$ISONODE" reconstruct "$WORK/sphere-signed12" --out "$WORK/out-signed12" --iso 500:mid \
    --sigma 0 --smooth 0 --triangles 0 --no-render --quiet || fail "reconstruct signed12"
cmp -s "$WORK/out-signed12/surface-mid.stl" "$WORK/out-sphere-axial/surface-mid.stl" \
    || fail "signed 12-bit encoding gives a different mesh"
ok "signed 12-bit pixels (bits above Bits Stored set, intercept 1000): identical mesh"
$PH write sphere scaled "$WORK/sphere-scaled" || fail "phantom.py write scaled"
"$ISONODE" reconstruct "$WORK/sphere-scaled" --out "$WORK/out-scaled" --iso 500:mid --normalize \
    --sigma 0 --smooth 0 --triangles 0 --no-render --quiet || fail "reconstruct scaled"
check_mesh "$WORK/out-scaled/surface-mid.stl" sphere "sphere MR scaled, normalized" 1
json_get "$WORK/out-scaled/report.json" 'r["normalized"]["from"]'
ok "intensity normalization maps an arbitrarily scaled MR series onto the same surface"

# a Modality LUT Sequence (stored x/2, the LUT doubles it) instead of a rescale
$PH write sphere modlut "$WORK/sphere-modlut" || fail "phantom.py write modlut"
"$ISONODE" reconstruct "$WORK/sphere-modlut" --out "$WORK/out-modlut" --iso 500:mid \
    --sigma 0 --smooth 0 --triangles 0 --no-render --quiet || fail "reconstruct modlut"
check_mesh "$WORK/out-modlut/surface-mid.stl" sphere "sphere through a Modality LUT" 1
ok "the Modality LUT Sequence is applied"

# pictures and progress, once
"$ISONODE" reconstruct "$WORK/sphere-tilt" --out "$WORK/pics" --iso 500:ball --frames 36 \
    2> "$WORK/progress.txt" || fail "reconstruct with pictures"
grep -q "isosurface\|ball" "$WORK/progress.txt" || fail "no progress lines"
python3 - "$WORK/pics" <<'PY' || fail "pictures"
import json, os, struct, sys, zlib
d = sys.argv[1]
r = json.load(open(os.path.join(d, "report.json")))
pics = r["pictures"]
need = ["ball-anterior.png", "ball-left-lateral.png", "ball-superior.png", "mip-anterior.png"]
need += ["ball-rotation-%02d.png" % i for i in range(36)]
missing = [n for n in need if n not in pics or not os.path.exists(os.path.join(d, n))]
if missing: sys.exit("missing pictures: %s" % missing[:5])
for n in pics:
    b = open(os.path.join(d, n), "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", n
    w, h, depth, ctype = struct.unpack(">IIBB", b[16:26])
    size = 256 if "rotation" in n else 512  # the rotation is a cine: rotation_size
    assert (w, h, depth, ctype) == (size, size, 8, 2), (n, w, h, depth, ctype)
    # decode: the picture shows something (not all background)
    i, idat = 8, b""
    while i < len(b):
        ln, typ = struct.unpack(">I4s", b[i:i + 8])
        if typ == b"IDAT": idat += b[i + 8:i + 8 + ln]
        i += 12 + ln
    raw = zlib.decompress(idat)
    lit = sum(1 for k in range(0, len(raw), 97) if raw[k] > 30)
    assert lit > 50, "%s looks empty" % n
print("%d pictures, RGB, views 512x512, rotation 256x256" % len(pics))
PY
ok "standard views and MIP (512x512) and the 36-frame rotation (256x256) written as RGB PNG; progress shown"
