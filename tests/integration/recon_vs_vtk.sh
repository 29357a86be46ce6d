#!/bin/bash
# The iso-surface against VTK's vtkFlyingEdges3D on the benchmark series,
# same volume (HU as int16, slices sorted along the normal), same
# iso-values, both open at the border: triangle count and surface area
# within 1 %.  Needs python3-vtk9 (skips without it).
. "$top_srcdir/tests/lib/common.sh"
need_shared
need_pydicom
"$PY" -c 'import vtk' >/dev/null 2>&1 || skip "python3-vtk9 not installed"
series=$SHARED/data/ct/philips-phantom-140
for iso in 300 -500; do
    read -r vt va < <("$PY" "$top_srcdir/tests/lib/vtk_fe.py" "$series" "$iso") || fail "vtk_fe.py"
    read -r it ia < <("$top_builddir/tests/bench/recon_bench" "$series" "$iso" --iso-only) || fail "recon_bench"
    echo "iso $iso: VTK $vt triangles $va mm2, isonode $it triangles $ia mm2"
    python3 -c "
import sys
vt, va, it, ia = $vt, $va, $it, $ia
sys.exit(not (abs(it - vt) <= 0.01 * vt and abs(ia - va) <= 0.01 * va))" \
        || fail "iso $iso: more than 1 % from VTK"
done
ok "triangle count and area within 1 % of VTK FlyingEdges3D at 300 and -500 HU"
