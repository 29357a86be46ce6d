#!/bin/bash
# Objects larger than what an association holds in memory (32 MiB, stored
# as received): the parts already handed to the store's writers are taken
# back and the rest streams into the file.  A 40 MiB multi-frame object and a
# 2 MiB one (held in memory, written in parts while it arrives) are stored
# byte for byte, their checksums hold, and verify passes.
. "$top_srcdir/tests/lib/common.sh"
need storescu
need_shared
need_pydicom
"$PY" - "$SHARED/data/ts/1.dcm" "$WORK" <<'PY' || fail "cannot make the test objects"
import os, sys, pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
src, out = sys.argv[1], sys.argv[2]
for name, frames in (("big.dcm", 80), ("mid.dcm", 4)):
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Rows, ds.Columns = 512, 512
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.PixelData = os.urandom(frames * 512 * 512 * 2)  # no run of bytes repeats
    ds.save_as(os.path.join(out, name), write_like_original=False)
PY
big=$(stat -c %s "$WORK/big.dcm")
[ "$big" -gt $((33 * 1024 * 1024)) ] || fail "test object only $big bytes"

write_conf
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/big.dcm" "$WORK/mid.dcm" > "$WORK/scu.log" 2>&1 ||
    { cat "$WORK/scu.log"; fail "storescu"; }
[ "$(count instances)" = 2 ] || fail "expected 2 instances, have $(count instances)"
node verify > "$WORK/verify.log" || { cat "$WORK/verify.log"; fail "verify"; }
for f in big mid; do
    uid=$("$PY" -c 'import pydicom,sys; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).SOPInstanceUID)' "$WORK/$f.dcm")
    path=$(node ls instances "SOPInstanceUID=$uid" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["Path"])')
    python3 "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$DATA/$path" "$WORK/$f.dcm" ||
        fail "$f: stored data set differs from the one sent"
done
[ -z "$(ls -A "$DATA/tmp")" ] || fail "files left in tmp"
ok "40 MiB object (beyond the in-memory limit) and 2 MiB object stored byte for byte, verify passes"
stop_node
