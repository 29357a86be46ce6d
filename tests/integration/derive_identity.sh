#!/bin/bash
# Derived objects for the sender carry the sender's identity: a phantom
# series goes through a de-identifying node, is reconstructed from the store
# (isonode reconstruct --series), and the objects written with --identity
# original carry the original Patient ID and Name, Study Instance UID, Frame
# of Reference UID and references to the original instances (restored from
# the vault), while the default copy carries only pseudonyms; the two copies
# share no UID, and every object passes dciodvfy.  Then the node stores the
# de-identified results of its own reconstruction beside their source, and
# a peer with identity =
# original retrieves the study by its original UID (C-MOVE): every object,
# derived ones included, arrives with the sender's identity (re-identified
# through the vault) and still passes dciodvfy.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu movescu storescp dciodvfy
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere oblique "$WORK/src" || fail "phantom"
DP=$(free_port)
ANONYMIZE=yes write_conf "" "[reconstruct]
settle_seconds = 86400
[peer original]
ae_title = FINDORIG
host = 127.0.0.1
port = 104
retrieve = yes
identity = original
[peer destination]
ae_title = DESTORIG
host = 127.0.0.1
port = $DP
identity = original"
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

mkdir -p "$WORK/dest"
storescp -aet DESTORIG -od "$WORK/dest" "$DP" > "$WORK/storescp.log" 2>&1 &
SCP=$!
trap 'kill $SCP 2>/dev/null; cleanup' EXIT
# the daemon reconstructs the series now and keeps its (de-identified)
# results in the store, beside their source
sed -i 's/^settle_seconds = 86400$/settle_seconds = 1/' "$CONF"
start_node
wait_jobs_done 1 120 || fail "the series was not reconstructed: $(node jobs list)"
study=$($PY -c 'import glob,sys,pydicom; print(pydicom.dcmread(sorted(glob.glob(sys.argv[1] + "/*.dcm"))[0]).StudyInstanceUID)' "$WORK/src")
stored=$(sqlite3 "$DATA/index.sqlite" "SELECT count(*) FROM instances")
movescu -S -aet FINDORIG -aec ISONODE -aem DESTORIG -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$study" \
    127.0.0.1 "$PORT" > "$WORK/move.log" 2>&1 || fail "movescu: $(tail -3 "$WORK/move.log")"
stop_node
$PY - "$WORK/src" "$WORK/dest" "$stored" <<'PY' || fail "re-identified retrieval"
import glob, os, sys, pydicom
src = [pydicom.dcmread(f) for f in glob.glob(os.path.join(sys.argv[1], "*.dcm"))]
uids = {d.SOPInstanceUID for d in src}
s0 = src[0]
got = [pydicom.dcmread(f) for f in glob.glob(os.path.join(sys.argv[2], "*"))]
derived = [d for d in got if d.SOPInstanceUID not in uids]
assert len(got) == int(sys.argv[3]) and len(derived) >= 5, (len(got), len(derived))
assert {d.SOPInstanceUID for d in got} >= uids
for d in got:
    assert d.PatientID == s0.PatientID and str(d.PatientName) == str(s0.PatientName), d.SOPInstanceUID
    assert d.StudyInstanceUID == s0.StudyInstanceUID, d.SOPClassUID
    if "FrameOfReferenceUID" in d:
        assert d.FrameOfReferenceUID == s0.FrameOfReferenceUID, d.SOPClassUID
for d in derived:
    if "ReferencedSeriesSequence" in d:
        refs = {i.ReferencedSOPInstanceUID for s in d.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence}
        assert refs == uids, d.SOPClassUID
    for s in d.get("SourceImageSequence", []):
        assert s.ReferencedSOPInstanceUID in uids, d.SOPClassUID
print("%d source and %d derived objects re-identified" % (len(got) - len(derived), len(derived)))
PY
for f in "$WORK"/dest/*; do
    case "$(basename "$f")" in CT*) continue ;; esac
    errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
    [ -z "$errs" ] || fail "dciodvfy re-identified $(basename "$f"): $errs"
done
ok "C-MOVE by the original Study UID to an identity = original destination: source and derived objects carry the sender's identity and references, dciodvfy-clean"
