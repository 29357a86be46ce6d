#!/bin/bash
# make bench (reconstruction): isonode's engine next to VTK, measured in one
# run on this machine, on ../shared/data/ct/philips-phantom-140:
#   1. iso-surface at 300 HU on the acquired 512x512x140 int16 volume, one
#      and two threads, next to VTK's vtkFlyingEdges3D
#      (../shared/bench/vtk_iso.py); Gaussian sigma 1 voxel next to
#      vtkImageGaussianSmooth;
#   2. the whole pipeline at equal settings (load, 1 mm isotropic resample,
#      Gaussian sigma 1 mm, iso-surface, 20 smoothing iterations, decimation
#      to 25 %, normals, binary STL) next to ../shared/bench/seed_pipeline.py
#      (pydicom + VTK), both on two threads, wall time of the whole command;
#      isonode's peak RSS against 2.5 x voxels x 2 bytes.
# Needs: python3-vtk9 python3-pydicom (apt-get install python3-vtk9 python3-pydicom).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${top_builddir:-$top}
SHARED=${SHARED:-$(cd "$top/.." && pwd)/shared}
SERIES=${1:-$SHARED/data/ct/philips-phantom-140}
ISO=${ISO:-300}
PY=/usr/bin/python3
[ -d "$SERIES" ] || { echo "no series at $SERIES"; exit 1; }
if ! $PY -c 'import vtk, pydicom' 2>/dev/null; then
    echo "reference needs python3-vtk9 and python3-pydicom: apt-get install -y python3-vtk9 python3-pydicom"
    exit 1
fi
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

echo "== iso-surface and Gaussian on $(basename "$SERIES") at $ISO HU"
$PY "$SHARED/bench/vtk_iso.py" "$SERIES" "$ISO" 1 > "$W/vtk1.txt" 2>/dev/null
$PY "$SHARED/bench/vtk_iso.py" "$SERIES" "$ISO" 2 > "$W/vtk2.txt" 2>/dev/null
"$build/tests/bench/recon_bench" "$SERIES" "$ISO" > "$W/iso.txt"
vfe1=$(awk '/^FlyingEdges3D/ {print $2}' "$W/vtk1.txt")
vfe2=$(awk '/^FlyingEdges3D/ {print $2}' "$W/vtk2.txt")
vg=$(awk '/^ImageGaussianSmooth/ {print $2}' "$W/vtk1.txt")
i1=$(awk '/isosurface threads=1/ {print $4}' "$W/iso.txt")
i2=$(awk '/isosurface threads=2/ {print $4}' "$W/iso.txt")
g1=$(awk '/gaussian.*threads=1/ {print $5}' "$W/iso.txt")
g2=$(awk '/gaussian.*threads=2/ {print $5}' "$W/iso.txt")
grep FlyingEdges3D "$W/vtk1.txt" | sed 's/^/  VTK 1 thread:  /'
grep FlyingEdges3D "$W/vtk2.txt" | sed 's/^/  VTK 2 threads: /'
sed 's/^/  /' "$W/iso.txt"
printf '  %-44s %8s ms  vs VTK %8s ms  -> %sx\n' "iso-surface, 1 thread" "$i1" "$vfe1" "$(ratio "$vfe1" "$i1")"
printf '  %-44s %8s ms  vs VTK %8s ms  -> %sx\n' "iso-surface, 2 threads" "$i2" "$vfe2" "$(ratio "$vfe2" "$i2")"
printf '  %-44s %sx (VTK %sx)\n' "iso-surface speed-up from 1 to 2 threads" "$(ratio "$i1" "$i2")" "$(ratio "$vfe1" "$vfe2")"
printf '  %-44s %8s ms  vs VTK %8s ms  -> %sx (2 threads: %s ms)\n' "Gaussian sigma 1 voxel, 1 thread" "$g1" "$vg" "$(ratio "$vg" "$g1")" "$g2"

echo "== whole pipeline at equal settings, 2 threads"
t0=$(date +%s.%N)
$PY "$SHARED/bench/seed_pipeline.py" "$SERIES" "$ISO" "$W/seed.stl" 2 > "$W/seed.json" 2>/dev/null
t1=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$W/rss.txt" "$build/src/isonode" reconstruct "$SERIES" --out "$W/iso" \
    --iso "$ISO:bone" --spacing 1 --sigma 1 --smooth 20 --keep 0.25 --triangles 0 --threads 2 \
    --no-render --quiet
t2=$(date +%s.%N)
seed_wall=$(python3 -c "print('%.3f' % ($t1 - $t0))")
iso_wall=$(python3 -c "print('%.3f' % ($t2 - $t1))")
echo "  seed_pipeline.py stages: $(cat "$W/seed.json")"
python3 - "$W/iso/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  isonode stages:          " + ", ".join("%s %.3f" % (s["name"], s["seconds"]) for s in r["stages"]))
s = r["surfaces"][0]
print("  isonode mesh: %d -> %d triangles, closed %s, manifold %s" % (s["triangles_extracted"], s["triangles"], s["closed"], s["manifold"]))
PY
seed_total=$(python3 -c "import json; print(json.load(open('$W/seed.json'))['total'])")
iso_total=$(json_total() { python3 -c "import json; print('%.3f' % json.load(open('$W/iso/report.json'))['total_seconds'])"; }; json_total)
printf '  %-44s %8s s   vs seed %8s s   -> %sx\n' "pipeline, stages summed" "$iso_total" "$seed_total" "$(ratio "$seed_total" "$iso_total")"
printf '  %-44s %8s s   vs seed %8s s   -> %sx\n' "pipeline, whole command (wall)" "$iso_wall" "$seed_wall" "$(ratio "$seed_wall" "$iso_wall")"
rss_kb=$(cat "$W/rss.txt")
vox=$(python3 -c "import json; print(json.load(open('$W/iso/report.json'))['voxels_acquired'])")
python3 -c "
rss = $rss_kb / 1024; limit = 2.5 * $vox * 2 / 2**20
print('  %-44s %8.1f MB  limit %.1f MB (2.5 x %d voxels x 2 bytes) -> %s' % ('isonode peak RSS', rss, limit, $vox, 'within' if rss <= limit else 'OVER'))"

# The same pipeline on a long series: the benchmark series stacked COPIES
# times (tests/bench/stack_series.py: fresh UIDs, positions continued),
# 1,400 slices by default.  Goals (issue 15): >= 10x the classic pipeline,
# peak RSS <= 400 MB, and >= 1.7x from one thread to two.
COPIES=${COPIES:-10}
echo "== whole pipeline on $(basename "$SERIES") stacked $COPIES times"
$PY "$here/stack_series.py" "$SERIES" "$W/stack" "$COPIES" | sed 's/^/  stack: /'
t0=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$W/seed_rss.txt" $PY "$SHARED/bench/seed_pipeline.py" "$W/stack" "$ISO" "$W/seed-stack.stl" 2 > "$W/seed-stack.json" 2>/dev/null
t1=$(date +%s.%N)
seed_wall=$(python3 -c "print('%.3f' % ($t1 - $t0))")
for t in 2 1; do
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$W/rss$t.txt" "$build/src/isonode" reconstruct "$W/stack" --out "$W/iso-stack$t" \
        --iso "$ISO:bone" --spacing 1 --sigma 1 --smooth 20 --keep 0.25 --triangles 0 --threads "$t" \
        --no-render --quiet
    t1=$(date +%s.%N)
    eval "wall$t=$(python3 -c "print('%.3f' % ($t1 - $t0))")"
done
python3 - "$W/iso-stack2/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  isonode stages (2 threads): " + ", ".join("%s %.2f" % (s["name"], s["seconds"]) for s in r["stages"]))
s = r["surfaces"][0]
print("  isonode mesh: %d -> %d triangles, closed %s, manifold %s" % (s["triangles_extracted"], s["triangles"], s["closed"], s["manifold"]))
PY
cmp -s "$W/iso-stack1/surface-bone.stl" "$W/iso-stack2/surface-bone.stl" && same=yes || same=NO
printf '  %-44s %8s s   vs seed %8s s   -> %sx (goal >= 10x)\n' "pipeline, whole command, 2 threads" "$wall2" "$seed_wall" "$(ratio "$seed_wall" "$wall2")"
printf '  %-44s %8s s   -> %sx from 1 to 2 threads (goal >= 1.7x); the same mesh: %s\n' "pipeline, whole command, 1 thread" "$wall1" "$(ratio "$wall1" "$wall2")" "$same"
printf '  %-44s %8.0f MB  vs seed %8.0f MB (goal <= 400 MB)\n' "peak RSS, 2 threads" "$(python3 -c "print($(cat "$W/rss2.txt") / 1024)")" "$(python3 -c "print($(cat "$W/seed_rss.txt") / 1024)")"
