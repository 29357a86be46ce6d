#!/usr/bin/env python3
"""stack_series.py SRC_DIR OUT_DIR COPIES -- a long series for the
reconstruction benchmark, made from a real one (make bench; never shipped):
the source's slices COPIES times over, each copy continuing the positions
along the slice normal where the last ended, every instance with a fresh
SOP Instance UID and Instance Number, the whole stack one new series of one
new study.  Needs python3-pydicom."""
import copy as copy_module
import os
import sys

import pydicom
from pydicom.uid import generate_uid


def main():
    src, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    files = []
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        try:
            ds = pydicom.dcmread(path)
        except Exception:
            continue
        if "ImagePositionPatient" in ds:
            files.append(ds)
    if len(files) < 2:
        sys.exit("no slices in " + src)
    o = [float(x) for x in files[0].ImageOrientationPatient]
    normal = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
    depth = lambda ds: sum(float(p) * n for p, n in zip(ds.ImagePositionPatient, normal))
    files.sort(key=depth)
    step = (depth(files[-1]) - depth(files[0])) / (len(files) - 1)
    extent = step * len(files)  # one copy's length, so the next continues at the same spacing
    study, series = generate_uid(), generate_uid()
    os.makedirs(out, exist_ok=True)
    n = 0
    for c in range(copies):
        for ds in files:
            n += 1
            copy = copy_module.deepcopy(ds)  # Dataset.copy() shares its elements
            copy.StudyInstanceUID = study
            copy.SeriesInstanceUID = series
            uid = generate_uid()
            copy.SOPInstanceUID = uid
            copy.file_meta.MediaStorageSOPInstanceUID = uid
            copy.InstanceNumber = n
            pos = [float(x) for x in ds.ImagePositionPatient]
            copy.ImagePositionPatient = [round(p + c * extent * k, 4) for p, k in zip(pos, normal)]
            if "SliceLocation" in copy:  # its sign convention varies: better none than wrong
                del copy.SliceLocation
            copy.save_as(os.path.join(out, "%05d.dcm" % n), write_like_original=False)
    print("%d slices, %.3f mm apart, %.1f mm in all" % (n, step, extent * copies))


if __name__ == "__main__":
    main()
