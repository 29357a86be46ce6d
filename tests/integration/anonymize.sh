#!/bin/bash
# De-identification at ingest, against the standard's own table (the PS3.15
# E.1-1 JSON in ../shared/ref decides which action each sample attribute
# must get) with pydicom reading what was stored:
#   run A (Basic Profile, Retain Safe Private, keep_originals, burned-in
#   objects rejected): one attribute per action code; PHI three sequences
#   deep; a private creator at block 11 with PHI; a safe private element
#   kept by creator, not element number; a private sequence holding study,
#   series and SOP UIDs; multi-valued UIDs; ISO_IR 100 and ISO 2022 IR 87
#   names; an object arriving after a restart that references the earlier
#   series; marking; the vault; idempotence; a byte scan of every stored file
#   for the planted PHI; dciodvfy finds no error the original did not have.
#   run B (Modified Dates, Clean Descriptors, burned-in objects flagged):
#   DA/DT/TM shifted together by the patient's offset, partial precision,
#   intervals across midnight; descriptions cleaned.
. "$top_srcdir/tests/lib/common.sh"
need storescu dciodvfy
need_shared
need_pydicom
TABLE=$SHARED/ref/ps3.15-table-e1-1.2024b.json
[ -f "$TABLE" ] || skip "no $TABLE"
AC="$PY $top_srcdir/tests/lib/anon_cases.py"

# ---- run A ----
$AC write-a "$WORK/a" "$TABLE" || fail "write-a"
ANONYMIZE=yes write_conf "" "[anonymize]\nretain_safe_private = yes\nkeep_originals = yes"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a/obj1.dcm" "$WORK/a/obj2.dcm" "$WORK/a/obj3.dcm" \
    || fail "storescu run A"
rc=0
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a/sc.dcm" > "$WORK/sc.out" 2>&1 || rc=$?
grep -q "0x0124\|Not authorized\|Refused" "$WORK/sc.out" "$WORK/node.log" || fail "secondary capture not refused: $(cat "$WORK/sc.out")"
grep -q "burned-in annotation possible" "$WORK/node.log" || fail "no log line for the refused capture"
ok "an object that may show burned-in text is refused (0x0124) and logged"
stop_node
# a restart, then an object referencing the earlier series and instance
$AC write-later "$WORK/later" "$WORK/a" || fail "write-later"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/later/later.dcm" || fail "storescu later"
$AC check-a "$DATA" "$WORK/a" "$TABLE" || fail "run A checks"
$AC check-later "$DATA" || fail "references after a restart"
$AC phi-scan "$DATA" "$WORK/a" "$WORK/node.log" || fail "planted PHI found in what the node wrote"
ok "every action code, deep sequences, private blocks, UIDs, names, marking as the standard says"

# dciodvfy: no error the original did not already have
for n in 1 2 3; do
    f=$(python3 - "$DATA" "$n" <<'PY'
import glob, os, subprocess, sys
for f in glob.glob(os.path.join(sys.argv[1], "objects", "*", "*", "*.dcm")):
    out = subprocess.run(["dcmdump", "-q", "+P", "0020,0013", f], capture_output=True, text=True).stdout
    if "[%s]" % sys.argv[2] in out:
        print(f)
PY
)
    [ -n "$f" ] || fail "stored object $n not found"
    dciodvfy "$WORK/a/obj$n.dcm" 2>&1 | grep '^Error' | sed 's/ - (0x[0-9a-f,x]*)//' | sort -u > "$WORK/before$n"
    dciodvfy "$f" 2>&1 | grep '^Error' | sed 's/ - (0x[0-9a-f,x]*)//' | sort -u > "$WORK/after$n"
    new=$(comm -13 "$WORK/before$n" "$WORK/after$n")
    [ -z "$new" ] || fail "dciodvfy: de-identified object $n has new errors: $new"
done
ok "dciodvfy: no error the originals did not already have"

# the vault: 0600, original identity back for a new UID and a pseudonym
[ "$(stat -c %a "$DATA/vault.sqlite")" = 600 ] || fail "vault.sqlite mode $(stat -c %a "$DATA/vault.sqlite")"
[ "$(stat -c %a "$DATA/secret.key")" = 600 ] || fail "secret.key mode"
# (a received instance: the node's own results, stored as jobs finish, are not in the vault)
new_uid=$(node ls instances --json | python3 -c 'import json,sys; print([r["SOPInstanceUID"] for r in json.load(sys.stdin) if r["InstanceNumber"] == "1" and r["CallingAETitle"] != "ISONODE"][0])')
node vault lookup "$new_uid" > "$WORK/vault1.json" || fail "vault lookup $new_uid"
[ "$(json_get "$WORK/vault1.json" 'r["uid"]["original"]')" = 1.2.826.0.1.3680043.10.4242.11 ] \
    || fail "vault: $(cat "$WORK/vault1.json")"
pseudo=$(node ls patients --json | python3 -c 'import json,sys; print([r["PatientID"] for r in json.load(sys.stdin)][0])')
node vault lookup "$pseudo" > "$WORK/vault2.json" || fail "vault lookup $pseudo"
grep -q PHIPID00 "$WORK/vault2.json" || fail "vault patient: $(cat "$WORK/vault2.json")"
strings "$DATA/vault.sqlite"* | grep -q 'PHIPID00\|PHIACC77' && fail "vault holds plain text identity"
ok "vault: encrypted, 0600, gives back the original UID and patient"

# keep_originals: the untouched original beside the store, not in the index
[ -d "$DATA/originals" ] && grep -rlq PHIPRIVATE "$DATA/originals" || fail "original not kept"
[ "$(find "$DATA/originals" -name '*.dcm' | wc -l)" -ge 4 ] || fail "not every original kept"
ok "keep_originals keeps the untouched original under originals/"

# an original whose object never committed (kill -9 between keeping it and
# the commit): verify names it, recovery removes it and nothing else
n_orig=$(find "$DATA/originals" -name '*.dcm' | wc -l)
ghost_dir=$DATA/originals/ff/ffffffffffffffffffffffffffffffffffffffff
mkdir -p "$ghost_dir"
cp "$(find "$DATA/originals" -name '*.dcm' | head -1)" "$ghost_dir/0000000000000000000000000000000000000000.dcm"
kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=
node verify > "$WORK/verify-orig.log" && fail "verify passed with an orphan original"
[ "$(grep -c '^ORPHAN ORIGINAL originals/ff/f*/0*\.dcm$' "$WORK/verify-orig.log")" = 1 ] ||
    fail "verify: $(cat "$WORK/verify-orig.log")"
start_node
grep -q "store recovered after unclean stop: .* and 1 kept originals without an object removed" "$WORK/node.log" ||
    fail "recovery: $(grep recovered "$WORK/node.log")"
[ ! -e "$ghost_dir/0000000000000000000000000000000000000000.dcm" ] || fail "the orphan original is still there"
[ "$(find "$DATA/originals" -name '*.dcm' | wc -l)" = "$n_orig" ] || fail "recovery removed kept originals"
node verify > "$WORK/verify-orig2.log" || fail "verify after recovery: $(head -3 "$WORK/verify-orig2.log")"
ok "an original without its object (a crash before the commit): verify names it, recovery removes it alone"

# an object whose commit fails after its original was kept: the C-STORE
# fails and the original goes with it (no identity kept for nothing)
stop_node
cc -shared -fPIC -O2 -o "$WORK/fail_rename.so" "$top_srcdir/tests/lib/fail_rename.c" -ldl || fail "build the shim"
FAIL_RENAME_MATCH=/objects/ LD_PRELOAD="$WORK/fail_rename.so" "$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do echoscu -to 2 -aec ISONODE 127.0.0.1 "$PORT" > /dev/null 2>&1 && break; sleep 0.1; done
$PY - "$WORK/failing.dcm" <<'PY' || fail "writing the object"
import sys
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
ds = Dataset(); ds.file_meta = FileMetaDataset()
ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
ds.PatientName, ds.PatientID, ds.Modality = "PHIFAILING^COMMIT", "PHIPIDFAIL", "CT"
ds.save_as(sys.argv[1], write_like_original=False)
PY
n_orig=$(find "$DATA/originals" -name '*.dcm' | wc -l)
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/failing.dcm" > "$WORK/failing.out" 2>&1 &&
    fail "a C-STORE whose commit failed was acknowledged"
stop_node
[ "$(find "$DATA/originals" -name '*.dcm' | wc -l)" = "$n_orig" ] || fail "the original of an object not stored was kept"
grep -rlq PHIFAILING "$DATA/originals" && fail "the failed object's identity is under originals/"
node verify > "$WORK/verify-orig3.log" || fail "verify: $(head -3 "$WORK/verify-orig3.log")"
start_node
ok "a commit that fails after the original was kept: the C-STORE fails, the original goes too, verify passes"

# an overlay embedded in the unused high bits of Pixel Data does not survive:
# unsigned samples lose bits 12..15, signed ones keep their sign extension
$PY - "$WORK/bits" <<'PY' || fail "writing the pixel-bit objects"
import os, sys
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
os.makedirs(sys.argv[1])
# (the large one, 40 MiB, streams through a file and is cleaned in blocks)
# (and one whose Pixel Data is OB although 16 bits are allocated)
for name, signed in (("unsigned", 0), ("signed", 1), ("large", 0), ("ob", 0)):
    ds = Dataset(); ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "PHIBITS^OVERLAY", "PHIPIDBITS", "CT"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, signed
    v = np.arange(256, dtype=np.uint16).reshape(16, 16) * 7 % 4096
    if name == "large":
        ds.Rows = ds.Columns = 512
        ds.NumberOfFrames = 80
        v = (np.arange(512 * 512 * 80, dtype=np.uint32) * 7 % 4096).astype(np.uint16)
        v[::97] |= 0x8000
    elif signed:
        v[:4] = (np.int16(-5)).astype(np.uint16)    # -5, sign-extended: 0xFFFB
        v[4:8] |= 0x2000                           # garbage above a positive value
    else:
        v[2:6, 2:14] |= 0x8000                     # an overlay drawn in bit 15
    ds.PixelData = v.tobytes()
    if name == "ob":
        ds["PixelData"].VR = "OB"
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(os.path.join(sys.argv[1], name + ".dcm"), write_like_original=False)
PY
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/bits"/*.dcm || fail "storescu bits"
$PY - "$DATA" <<'PY' || fail "unused Pixel Data bits survived"
import glob, sys
import numpy as np
import pydicom
seen = 0
for f in glob.glob(sys.argv[1] + "/objects/*/*/*.dcm"):
    d = pydicom.dcmread(f)
    if d.get("Rows") not in (16, 512) or d.get("BitsStored") != 12 or d.get("Modality") != "CT":
        continue
    w = np.frombuffer(d.PixelData, dtype="<u2")
    if d.PixelRepresentation == 0:
        assert not (w & 0xF000).any(), "bits above Bits Stored kept"
        assert (w == (np.arange(w.size, dtype=np.uint32) * 7 % 4096)).all(), "stored bits changed"
    else:
        s = w.reshape(16, 16)
        assert (s[:4] == 0xFFFB).all(), "sign extension lost"
        assert not (s[4:8] & 0xF000).any(), "garbage above a positive value kept"
    seen += 1
assert seen == 4, seen
print("unsigned (in memory and 40 MiB through a file): bits 12..15 cleared, values kept; "
      "signed: sign extension kept, garbage cleared")
PY
[ -z "$(ls -A "$DATA/tmp")" ] || fail "temporary files left in tmp/: $(ls "$DATA/tmp")"
ok "an overlay in the unused high bits of Pixel Data is removed (signed samples keep their sign)"

# file meta elements inside a data set do not survive de-identification
st=$(python3 "$top_srcdir/tests/lib/dicomtool.py" store 127.0.0.1 "$PORT" 1.2.826.0.1.3680043.10.4242.98.1 --meta-in-dataset)
[ "$st" = "status=0000" ] || fail "an object with group 0002 in its data set: $st"
grep -rlq 'PHIAET02\|PHIPRIVATE0002' "$DATA/objects" && fail "group 0002 text from the data set was stored"
ok "(0002,xxxx) elements inside the data set are removed"

# the log names objects only as stored: no original SOP Instance, Series or
# Study UID of what was sent appears in it
for f in "$WORK/a"/*.dcm; do
    for tag in 0008,0018 0020,000e 0020,000d; do
        u=$(dcmdump -q -Un +P "$tag" "$f" | sed 's/.*\[\(.*\)\].*/\1/')
        [ -n "$u" ] || continue
        grep -qF "$u" "$WORK/node.log" && fail "the log names an original UID ($tag $u)"
    done
done
ok "the log names objects by their de-identified UIDs only"

# idempotence: a stored (de-identified) object sent again changes nothing
# (counted within its series: jobs may be storing derived series meanwhile)
# (one of the received objects: the derived ones have classes storescu's
# default contexts lack)
f1=$($PY -c '
import glob, sys, pydicom
for f in sorted(glob.glob(sys.argv[1] + "/objects/*/*/*.dcm")):
    if not str(pydicom.dcmread(f, stop_before_pixels=True).get("SeriesDescription", "")).startswith("isonode"):
        print(f); break' "$DATA")
[ -n "$f1" ] || fail "no received object in the store"
sum1=$(sha256sum "$f1" | cut -c1-64)
series1=$($PY -c 'import pydicom, sys; print(pydicom.dcmread(sys.argv[1]).SeriesInstanceUID)' "$f1")
in_series() { node ls instances SeriesInstanceUID="$series1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
n_before=$(in_series)
[ "$n_before" -ge 1 ] || fail "the resent object's series ($series1) is not listed"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$f1" || fail "resend"
[ "$(in_series)" = "$n_before" ] || fail "resending a de-identified object added an instance"
[ "$(sha256sum "$f1" | cut -c1-64)" = "$sum1" ] || fail "resending changed the stored object"
ok "de-identifying a de-identified object changes nothing"

# what a sender writes cannot switch de-identification off: the marker
# attributes claiming the node already did it, and the node's own mark on an
# object whose name has been put back, are both de-identified as any object
mkdir -p "$WORK/forge"
cp "$WORK/a/obj2.dcm" "$WORK/forge/marker.dcm"
dcmodify -nb -i "PatientIdentityRemoved=YES" -i "DeidentificationMethod=isonode PS3.15 E.1-1 2024b Basic Profile" \
    -i "PatientName=Forged^Marker^PHI" -i "SOPInstanceUID=1.2.826.0.1.3680043.10.4242.97.1" "$WORK/forge/marker.dcm" >/dev/null 2>&1 \
    || fail "dcmodify marker"
cp "$f1" "$WORK/forge/mark.dcm"
dcmodify -nb -i "PatientName=Put^Back^PHI" "$WORK/forge/mark.dcm" >/dev/null 2>&1 || fail "dcmodify mark"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/forge/marker.dcm" "$WORK/forge/mark.dcm" || fail "storescu forged"
grep -rlF -e 'Forged^Marker^PHI' -e 'Put^Back^PHI' "$DATA/objects" && fail "a forged marker or mark let identity into the store"
[ "$(node ls instances SOPInstanceUID=1.2.826.0.1.3680043.10.4242.97.1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] \
    || fail "the object with a forged marker kept its original UID"
ok "a forged de-identification marker, or the node's mark on an object given its name back: de-identified anyway"
stop_node

# a vault that cannot be written fails the C-STORE (nothing acknowledged that
# could not be re-identified): another connection holds it locked past the
# vault's 10 s busy timeout.  A fresh store where no job runs, so the
# instance count is exact.
DATA=$WORK/data-v
ANONYMIZE=yes write_conf "" "[reconstruct]\nsettle_seconds = 86400"
start_node
n_before=$(count instances)
$PY - "$DATA/vault.sqlite" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
time.sleep(14)
db.execute("ROLLBACK")
PY
locker=$!
sleep 1
mkdir -p "$WORK/a2" && cp "$WORK/a/obj2.dcm" "$WORK/a2/" || fail "copy obj2"
dcmodify -nb -m "SOPInstanceUID=1.2.826.0.1.3680043.10.4242.99.1" -m "SeriesInstanceUID=1.2.826.0.1.3680043.10.4242.99" "$WORK/a2/obj2.dcm" >/dev/null 2>&1
storescu -v -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a2/obj2.dcm" > "$WORK/locked.log" 2>&1
grep -qi 'Processing Failure\|0x0110\|Status: 0x110' "$WORK/locked.log" || fail "C-STORE with a locked vault not failed: $(cat "$WORK/locked.log")"
grep -q 'vault: .*locked\|vault: .*busy' "$WORK/node.log" || fail "no log line for the vault write"
[ "$(count instances)" = "$n_before" ] || fail "an object was stored without its vault record"
wait "$locker"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a2/obj2.dcm" || fail "store once the vault is free"
[ "$(count instances)" = $((n_before + 1)) ] || fail "not stored once the vault is free"
ok "a C-STORE whose vault record cannot be written gets a failure status and stores nothing"
stop_node

# no usable vault: the node does not start de-identifying without one
rm -f "$DATA"/vault.sqlite*
mkdir "$DATA/vault.sqlite"
"$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 && fail "isonoded started without a usable vault"
grep -q "vault unavailable" "$WORK/node.log" || fail "no log line for the missing vault"
ok "without a usable vault the node refuses to start (and says why)"

# ---- run B ----
$AC write-b "$WORK/b" || fail "write-b"
DATA=$WORK/data-b
ANONYMIZE=yes write_conf "" "[anonymize]\ndates = modified\nclean_descriptors = yes\nburned_in = flag"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/b/dates.dcm" "$WORK/b/sc.dcm" "$WORK/b/latin1.dcm" || fail "storescu run B"
pseudo=$($PY -c '
import glob, sys, pydicom
for f in glob.glob(sys.argv[1] + "/objects/*/*/*.dcm"):
    d = pydicom.dcmread(f)
    if int(d.InstanceNumber) == 6:
        print(d.PatientID)' "$DATA")
offset=$(node vault lookup "$pseudo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["patient"]["DateOffsetSeconds"])')
$AC check-b "$DATA" "$WORK/b" "$offset" || fail "run B checks"
$AC phi-scan "$DATA" "$WORK/b" "$WORK/node.log" || fail "planted PHI found in what the node wrote (run B)"
ok "dates shifted by the patient's offset with their precision, descriptions cleaned, capture flagged"
stop_node
