#!/usr/bin/python3
"""vtk_fe.py — the reference for the iso-surface test: VTK's
vtkFlyingEdges3D on a series loaded the way ../shared/bench/vtk_iso.py
loads it (pydicom, slices sorted along the normal, HU as int16).

usage: vtk_fe.py SERIES_DIR ISO  -> prints "triangles AREA_MM2"
Exit 77 when VTK or pydicom is missing (the test then skips)."""
import glob
import os
import sys

try:
    import numpy as np
    import pydicom
    import vtk
    from vtk.util import numpy_support as ns
except ImportError as e:
    print("missing: %s" % e)
    sys.exit(77)

d, iso = sys.argv[1], float(sys.argv[2])
ds = []
for f in sorted(glob.glob(os.path.join(d, "*"))):
    try:
        x = pydicom.dcmread(f)
        if "PixelData" in x:
            ds.append(x)
    except Exception:
        pass
iop = np.array(ds[0].ImageOrientationPatient, float)
n = np.cross(iop[:3], iop[3:])
ds.sort(key=lambda x: float(np.dot(n, np.array(x.ImagePositionPatient, float))))
vol = np.stack([x.pixel_array.astype(np.float64) * float(x.get("RescaleSlope", 1))
                + float(x.get("RescaleIntercept", 0)) for x in ds]).astype(np.int16)
pos = [float(np.dot(n, np.array(x.ImagePositionPatient, float))) for x in ds]
dz = float(np.median(np.diff(pos)))
ps = [float(v) for v in ds[0].PixelSpacing]
img = vtk.vtkImageData()
img.SetDimensions(vol.shape[2], vol.shape[1], vol.shape[0])
img.SetSpacing(ps[1], ps[0], dz)
img.GetPointData().SetScalars(ns.numpy_to_vtk(vol.ravel(), deep=True, array_type=vtk.VTK_SHORT))
fe = vtk.vtkFlyingEdges3D()
fe.SetInputData(img)
fe.SetValue(0, iso)
fe.ComputeNormalsOff()
fe.Update()
out = fe.GetOutput()
pts = ns.vtk_to_numpy(out.GetPoints().GetData()).astype(np.float64)
cells = ns.vtk_to_numpy(out.GetPolys().GetConnectivityArray()).reshape(-1, 3)
a, b, c = pts[cells[:, 0]], pts[cells[:, 1]], pts[cells[:, 2]]
area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()
print(out.GetNumberOfCells(), "%.3f" % area)
