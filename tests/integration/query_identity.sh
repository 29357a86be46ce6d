#!/bin/bash
# Query and retrieval by original identity on a de-identifying node (issue
# 14).  C-FIND: a peer
# with identity = original finds a study by its real Patient's Name
# (wildcard), Patient ID, Accession Number, Study Date range and original
# UIDs, and every answer carries the original identity (from the vault); a
# peer with identity = anonymized asking the same finds nothing, and a byte
# search of every response it got (universal queries at every level) finds
# none of the planted identifiers.  C-MOVE and C-GET: the original-identity
# peer names the study by its original UID; a destination with identity =
# original gets the objects with the sender's identity (re-identified
# through the vault, or byte for byte the received objects when the store
# keeps originals), one with identity = anonymized the store's pseudonyms.
# DCMTK findscu, movescu, getscu and storescp; dcmodify plants the identity;
# pydicom reads what arrived.
. "$top_srcdir/tests/lib/common.sh"
need storescu findscu movescu getscu storescp dcmdump dcmodify python3
need_shared
need_pydicom
DO_PORT=$(free_port); DA_PORT=$(free_port)
ANONYMIZE=yes write_conf "check_calling_ae = yes" "[reconstruct]
settle_seconds = 86400
[anonymize]
dates = modified
keep_originals = no
[peer original]
ae_title = FINDORIG
host = 127.0.0.1
port = 104
query = yes
retrieve = yes
identity = original
[peer dest_original]
ae_title = DESTORIG
host = 127.0.0.1
port = $DO_PORT
identity = original
[peer dest_anonymized]
ae_title = DESTANON
host = 127.0.0.1
port = $DA_PORT
identity = anonymized
[peer pseudonymous]
ae_title = FINDANON
host = 127.0.0.1
port = 104
query = yes
identity = anonymized
[peer sender]
ae_title = STORESCU
host = 127.0.0.1
port = 104
[peer echoscu]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104"
# the planted identity
NAME='Doe^Jane^Quincy'; PID='PID-4711-X'; ACC='ACC-90210'; DATE=20190314
mkdir -p "$WORK/ct"
cp "$SHARED"/data/ct/ge-tilt-28/* "$WORK/ct/"
dcmodify -nb -i "PatientName=$NAME" -i "PatientID=$PID" -i "AccessionNumber=$ACC" \
    -i "StudyDate=$DATE" "$WORK"/ct/* > /dev/null 2>&1 || fail "dcmodify"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK"/ct/* || fail "storescu ct"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED"/data/ct/philips-phantom-54/* || fail "storescu phantom"
first=$(ls "$WORK"/ct/* | head -1)
study=$(dcmdump -s +P 0020,000D "$first" | sed 's/.*\[\(.*\)\].*/\1/')
series=$(dcmdump -s +P 0020,000E "$first" | sed 's/.*\[\(.*\)\].*/\1/')
ct_n=$(ls "$WORK/ct" | wc -l)

N=0
# find_ AET KEYS...: Study Root C-FIND as AET; n matches, responses in $WORK/q$N
find_() {
    N=$((N + 1))
    mkdir -p "$WORK/q$N"
    findscu -S -aet "$1" -aec ISONODE -X -od "$WORK/q$N" "${@:2}" 127.0.0.1 "$PORT" > "$WORK/q$N.log" 2>&1
    n=$(ls "$WORK/q$N" | wc -l)
}
value() { dcmdump -s +P "$2" "$1" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }
STUDY_KEYS=(-k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientName -k PatientID
            -k AccessionNumber -k StudyDate -k NumberOfStudyRelatedInstances)

# the original-identity peer, by each identity key
check_original_answer() { # what: the single answer of query $N is the planted study
    [ "$n" = 1 ] || fail "$1: $n matches ($(tail -3 "$WORK/q$N.log"))"
    local r="$WORK/q$N/rsp0001.dcm"
    [ "$(value "$r" 0010,0010)" = "$NAME" ] || fail "$1: PatientName $(value "$r" 0010,0010)"
    [ "$(value "$r" 0010,0020)" = "$PID" ] || fail "$1: PatientID"
    [ "$(value "$r" 0008,0050)" = "$ACC" ] || fail "$1: AccessionNumber"
    [ "$(value "$r" 0008,0020)" = "$DATE" ] || fail "$1: StudyDate $(value "$r" 0008,0020) (the store's is shifted)"
    [ "$(value "$r" 0020,000d)" = "$study" ] || fail "$1: StudyInstanceUID"
    [ "$(value "$r" 0020,1208)" = "$ct_n" ] || fail "$1: NumberOfStudyRelatedInstances"
}
find_ FINDORIG -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientName=Doe^J*" -k PatientID \
    -k AccessionNumber -k StudyDate -k NumberOfStudyRelatedInstances
check_original_answer "PatientName=Doe^J*"
find_ FINDORIG -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientName -k "PatientID=$PID" \
    -k AccessionNumber -k StudyDate -k NumberOfStudyRelatedInstances
check_original_answer "PatientID"
find_ FINDORIG -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientName -k PatientID \
    -k "AccessionNumber=ACC-9021?" -k "StudyDate=20190101-20191231" -k NumberOfStudyRelatedInstances
check_original_answer "AccessionNumber and StudyDate range"
find_ FINDORIG -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$study" -k PatientName -k PatientID \
    -k AccessionNumber -k StudyDate -k NumberOfStudyRelatedInstances
check_original_answer "original StudyInstanceUID"
find_ FINDORIG -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientName=Doe^Jim*"
[ "$n" = 0 ] || fail "another name matched: $n"
find_ FINDORIG -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientID -k "StudyDate=-20181231"
for f in "$WORK"/q$N/*; do [ "$(value "$f" 0010,0020)" != "$PID" ] || fail "a date range matched the shifted date"; done
find_ FINDORIG -k QueryRetrieveLevel=SERIES -k "StudyInstanceUID=$study" -k SeriesInstanceUID \
    -k NumberOfSeriesRelatedInstances
[ "$n" = 1 ] && [ "$(value "$WORK/q$N/rsp0001.dcm" 0020,000e)" = "$series" ] || fail "SERIES by original study UID"
find_ FINDORIG -k QueryRetrieveLevel=IMAGE -k "StudyInstanceUID=$study" -k "SeriesInstanceUID=$series" -k SOPInstanceUID
[ "$n" = "$ct_n" ] || fail "IMAGE: $n"
for f in "$WORK"/q$N/*; do value "$f" 0008,0018; done | sort > "$WORK/got_uids"
for f in "$WORK"/ct/*; do value "$f" 0008,0018; done | sort > "$WORK/sent_uids"
cmp -s "$WORK/got_uids" "$WORK/sent_uids" || fail "IMAGE level: not the original SOP Instance UIDs"
ok "identity = original: found by real name (wildcard), Patient ID, accession (wildcard) and date range, original UIDs at STUDY, SERIES and IMAGE; every answer carries the original identity"

# the pseudonymous peer: the same questions find nothing
find_ FINDANON -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientName=Doe^J*"
[ "$n" = 0 ] || fail "the anonymized peer found the real name"
find_ FINDANON -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientID=$PID"
[ "$n" = 0 ] || fail "the anonymized peer found the real Patient ID"
find_ FINDANON -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "AccessionNumber=$ACC"
[ "$n" = 0 ] || fail "the anonymized peer found the real accession number"
find_ FINDANON -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$study"
[ "$n" = 0 ] || fail "the anonymized peer found the original Study Instance UID"
# universal queries at every level, every key the index has
find_ FINDANON "${STUDY_KEYS[@]}" -k StudyTime -k StudyID -k StudyDescription -k ReferringPhysicianName
[ "$n" = 2 ] || fail "universal STUDY as the anonymized peer: $n"
find_ FINDANON -k QueryRetrieveLevel=SERIES -k StudyInstanceUID -k SeriesInstanceUID -k PatientID -k SeriesDescription
find_ FINDANON -k QueryRetrieveLevel=IMAGE -k StudyInstanceUID -k SeriesInstanceUID -k SOPInstanceUID
find_ FINDANON -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientName=*" -k PatientID
python3 - "$WORK" "$N" "$NAME" "$PID" "$ACC" "$DATE" "$study" "$series" "$WORK/sent_uids" <<'PY' || fail "a planted identifier in a response to the anonymized peer"
import glob, sys
work, last = sys.argv[1], int(sys.argv[2])
planted = [s.encode() for s in sys.argv[3:9]] + [b"Doe", b"Jane", b"Quincy"]  # digits alone occur in UIDs
planted += [u.strip().encode() for u in open(sys.argv[9]) if u.strip()]
files = [f for q in range(last - 7, last + 1) for f in glob.glob("%s/q%d/*" % (work, q))]
assert len(files) >= 2 + 2 + 28, len(files)
for f in files:
    data = open(f, "rb").read()
    for p in planted:
        assert p not in data, (f, p)
print("%d responses searched" % len(files))
PY
ok "identity = anonymized: real name, Patient ID, accession number and original UID find nothing; no planted identifier in any response"

# retrieval: storescp as both destinations
mkdir -p "$WORK/do" "$WORK/da" "$WORK/get"
storescp -aet DESTORIG -od "$WORK/do" "$DO_PORT" > "$WORK/storescp_o.log" 2>&1 &
SO=$!
storescp -aet DESTANON -od "$WORK/da" "$DA_PORT" > "$WORK/storescp_a.log" 2>&1 &
SA=$!
trap 'kill $SO $SA 2>/dev/null; cleanup' EXIT
sleep 0.5
# received DIR ORIGINALS? : checks every object in DIR against the sent CT
received() {
    "$PY" - "$1" "$WORK/ct" "$NAME" "$PID" "$ACC" "$DATE" "$study" "$2" <<'PY'
import glob, os, sys
import pydicom
got_dir, sent_dir, name, pid, acc, date, study, mode = sys.argv[1:9]
sent = {}
for f in glob.glob(sent_dir + "/*"):
    d = pydicom.dcmread(f)
    sent[d.SOPInstanceUID] = (f, d)
files = [f for f in glob.glob(got_dir + "/*") if os.path.isfile(f)]
assert len(files) == len(sent), (len(files), len(sent))
for f in files:
    d = pydicom.dcmread(f)
    if mode == "original":
        assert d.SOPInstanceUID in sent, d.SOPInstanceUID
        s = sent[d.SOPInstanceUID][1]
        assert (str(d.PatientName), d.PatientID, d.AccessionNumber, d.StudyDate) == (name, pid, acc, date), \
            (str(d.PatientName), d.PatientID, d.AccessionNumber, d.StudyDate)
        assert d.StudyInstanceUID == study and d.SeriesInstanceUID == s.SeriesInstanceUID
        assert d.FrameOfReferenceUID == s.FrameOfReferenceUID
        assert d.get("PatientIdentityRemoved", "NO") == "NO" and "DeidentificationMethodCodeSequence" not in d
        assert d.PixelData == s.PixelData
    else:
        assert d.SOPInstanceUID not in sent and d.StudyInstanceUID != study
        assert d.PatientID != pid and name.split("^")[0] not in str(d.PatientName)
        assert d.PatientIdentityRemoved == "YES"
print(len(files), "objects checked")
PY
}
movescu -S -aet FINDORIG -aec ISONODE -aem DESTORIG -k QueryRetrieveLevel=STUDY \
    -k "StudyInstanceUID=$study" 127.0.0.1 "$PORT" > "$WORK/move_o.log" 2>&1 || fail "movescu to DESTORIG: $(tail -3 "$WORK/move_o.log")"
received "$WORK/do" original || fail "what DESTORIG received"
movescu -S -aet FINDORIG -aec ISONODE -aem DESTANON -k QueryRetrieveLevel=STUDY \
    -k "StudyInstanceUID=$study" 127.0.0.1 "$PORT" > "$WORK/move_a.log" 2>&1 || fail "movescu to DESTANON"
received "$WORK/da" anonymized || fail "what DESTANON received"
getscu -S -aet FINDORIG -aec ISONODE -od "$WORK/get" -k QueryRetrieveLevel=SERIES \
    -k "StudyInstanceUID=$study" -k "SeriesInstanceUID=$series" 127.0.0.1 "$PORT" > "$WORK/get.log" 2>&1 ||
    fail "getscu: $(tail -3 "$WORK/get.log")"
received "$WORK/get" original || fail "what C-GET returned"
[ -z "$(ls "$DATA/tmp")" ] || fail "re-identified copies left in tmp/: $(ls "$DATA/tmp" | head -3)"
ok "C-MOVE and C-GET by original Study/Series UID: DESTORIG and the C-GET requester got the sender's identity and UIDs back (from the vault), DESTANON the pseudonyms; no copy left behind"

# a store that keeps originals sends the received objects themselves
stop_node
sed -i 's/^keep_originals = no$/keep_originals = yes/' "$CONF"
start_node
mkdir -p "$WORK/ph" "$WORK/do2"
cp "$SHARED"/data/ct/philips-phantom-54/* "$WORK/ph/"
# new UIDs: the store already holds the phantom under its own
dcmodify -nb -gst -gse -gin -i "PatientName=Roe^Richard" -i "PatientID=PID-0815-Y" "$WORK"/ph/* > /dev/null 2>&1 ||
    fail "dcmodify phantom"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK"/ph/* || fail "storescu phantom copy"
kill $SO; wait $SO 2>/dev/null
storescp -aet DESTORIG -od "$WORK/do2" "$DO_PORT" > "$WORK/storescp_o2.log" 2>&1 &
SO=$!
sleep 0.5
movescu -P -aet FINDORIG -aec ISONODE -aem DESTORIG -k QueryRetrieveLevel=PATIENT \
    -k "PatientID=PID-0815-Y" 127.0.0.1 "$PORT" > "$WORK/move_p.log" 2>&1 || fail "movescu by original Patient ID"
[ "$(ls "$WORK/do2" | wc -l)" = "$(ls "$WORK/ph" | wc -l)" ] || fail "by Patient ID: $(ls "$WORK/do2" | wc -l) objects"
for f in "$WORK"/ph/*; do
    uid=$(dcmdump -s +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
    got=$(ls "$WORK"/do2/*"$uid"* 2>/dev/null | head -1)
    [ -n "$got" ] || fail "$uid not received"
    "$PY" "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$got" "$f" || fail "$uid is not the object as received"
done
ok "with keep_originals, C-MOVE by the original Patient ID sent the received objects byte for byte"
stop_node
