#!/bin/bash
# Objects whose pixels may show burned-in text never reach an anonymized
# destination.  With [anonymize] burned_in = flag they are stored flagged
# (PatientIdentityRemoved NO); a route's forward_anonymized_to must then pass
# them over -- from the de-identified store, and when the store keeps what
# arrived and forwarding de-identifies its copies itself.  Three series: CT
# that says nothing (forwarded), CT whose Burned In Annotation is a
# lower-case "yes" (not a valid CS, still yes), and X-ray angiography that
# says nothing (a class where text is routinely burned in).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp
need_pydicom
$PY - "$WORK/src" <<'PY' || fail "making the series"
import os, sys
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
out = sys.argv[1]
os.makedirs(out)
study = generate_uid()
def series(name, sop_class, modality, n, burned=None):
    uid = generate_uid()
    for i in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Burned^Text", "BURN-1", "19600101"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, uid
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, i + 1
        ds.StudyDate, ds.StudyTime = "20240101", "120000"
        ds.Rows = ds.Columns = 8
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if burned is not None:
            ds.BurnedInAnnotation = burned
        ds.PixelData = np.full((8, 8), 100 + i, dtype=np.uint16).tobytes()
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(os.path.join(out, "%s-%d.dcm" % (name, i)), write_like_original=False)
series("ct", "1.2.840.10008.5.1.4.1.1.2", "CT", 3)
series("ctyes", "1.2.840.10008.5.1.4.1.1.2", "CT", 2, burned="yes")
series("xa", "1.2.840.10008.5.1.4.1.1.12.1", "XA", 2)
PY
for mode in de-identified-store forward-de-identifies; do
    rm -rf "$DATA" "$WORK/research" "$WORK/research.log"
    start_receiver research RESEARCH
    if [ "$mode" = de-identified-store ]; then an=yes; else an=no; fi
    ANONYMIZE=$an write_conf "" "burned_in = flag\\n[reconstruct]\\nsettle_seconds = 1\\n[peer research]\\nae_title = RESEARCH\\nhost = 127.0.0.1\\nport = $RECV_PORT\\n[route all]\\nreconstruct = no\\nforward_anonymized_to = research"
    start_node
    storescu -aet MOD1 -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "$mode: storescu"
    [ "$(count instances)" = 7 ] || fail "$mode: stored $(count instances) of 7"
    wait_jobs_done 3 60 || fail "$mode: jobs $(node jobs list)"
    wait_received research 3 30 || fail "$mode: research got $(received research) of 3"
    sleep 2
    [ "$(received research)" = 3 ] || fail "$mode: research got $(received research) objects, want the 3 CT only"
    $PY - "$WORK/research" <<'PY' || fail "$mode: what research got"
import glob, sys
import pydicom
got = [pydicom.dcmread(f) for f in glob.glob(sys.argv[1] + "/*")]
assert len(got) == 3, len(got)
for d in got:
    assert d.Modality == "CT" and "BurnedInAnnotation" not in d, d.SOPClassUID
    assert d.PatientIdentityRemoved == "YES" and d.PatientName != "Burned^Text", d.PatientName
PY
    [ "$(grep -c 'not forwarded de-identified' "$WORK/node.log")" -ge 4 ] || fail "$mode: no log line per held-back object"
    ok "$mode: the CT series forwarded de-identified; 'yes' (lower case) and XA without the attribute held back, logged"
    stop_node
    kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
    : > "$WORK/node.log"
done
