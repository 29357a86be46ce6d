#!/bin/bash
# Derived objects for the sender carry the sender's identity: a phantom
# series goes through a de-identifying node, is reconstructed from the store
# (isonode reconstruct --series), and the objects written with --identity
# original carry the original Patient ID and Name, Study Instance UID, Frame
# of Reference UID and references to the original instances (restored from
# the vault), while the default copy carries only pseudonyms; the two copies
# share no UID, and every object passes dciodvfy.
. "$top_srcdir/tests/lib/common.sh"
need storescu dciodvfy
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere oblique "$WORK/src" || fail "phantom"
ANONYMIZE=yes write_conf
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "storescu"
series=$(node ls series --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["SeriesInstanceUID"])')
stop_node
for id in original anonymized; do
    node reconstruct --series "$series" --out "$WORK/$id" --dicom --identity "$id" --iso 500:ball \
        --no-render --quiet || fail "reconstruct --series --identity $id"
    for f in "$WORK/$id/dicom"/*.dcm; do
        errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
        [ -z "$errs" ] || fail "dciodvfy $id $(basename "$f"): $errs"
    done
done
$PY - "$WORK/src" "$WORK/original/dicom" "$WORK/anonymized/dicom" <<'PY' || fail "identity checks"
import glob, os, sys, pydicom
src = [pydicom.dcmread(f) for f in glob.glob(os.path.join(sys.argv[1], "*.dcm"))]
uids = {d.SOPInstanceUID for d in src}
s0 = src[0]
seen = set()
for kind, d_ in (("original", sys.argv[2]), ("anonymized", sys.argv[3])):
    for f in glob.glob(os.path.join(d_, "*.dcm")):
        d = pydicom.dcmread(f)
        refs = {i.ReferencedSOPInstanceUID for s in d.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence}
        if kind == "original":
            assert d.PatientID == s0.PatientID and str(d.PatientName) == str(s0.PatientName), f
            assert d.StudyInstanceUID == s0.StudyInstanceUID and d.FrameOfReferenceUID == s0.FrameOfReferenceUID, f
            assert refs == uids, f
        else:
            assert d.PatientID.startswith("ANON") and d.StudyInstanceUID != s0.StudyInstanceUID, f
            assert not (refs & uids), f
        assert d.SOPInstanceUID not in seen
        seen.add(d.SOPInstanceUID)
print("%d objects: the sender's copy carries the original identity, the other only pseudonyms" % len(seen))
PY
ok "identity restored from the vault for the sender's copy; none in the de-identified copy"
