#!/bin/bash
# C-FIND SCP against DCMTK's findscu (issue 14, first part): Patient Root
# and Study Root at every level; universal, single value, wildcard, date
# range, UID list and ModalitiesInStudy matching; return keys from the
# index; C-CANCEL; a peer without query = yes and a level outside the model
# refused with their statuses and log lines.  The answers are checked
# against what the test stored (pydicom reads the stored objects).
. "$top_srcdir/tests/lib/common.sh"
need storescu findscu dcmdump python3
need_shared
# no series settles during the test: the store holds only what it sent
write_conf "check_calling_ae = yes" "[reconstruct]
settle_seconds = 86400
[peer finder]
ae_title = FINDSCU
host = 127.0.0.1
port = 104
query = yes
[peer sender]
ae_title = STORESCU
host = 127.0.0.1
port = 104
[peer echoscu]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104"
start_node
cfg=$(storescu_all_ts_cfg)
storescu -xf "$cfg" AllTS -aec ISONODE 127.0.0.1 "$PORT" "$SHARED"/data/ts/*.dcm || fail "storescu ts"
CT_DIR="$SHARED/data/ct/ge-tilt-28"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$CT_DIR"/* || fail "storescu ct"
ct_study=$(dcmdump -s +P 0020,000D "$(ls "$CT_DIR"/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
ct_series=$(dcmdump -s +P 0020,000E "$(ls "$CT_DIR"/* | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
ct_n=$(ls "$CT_DIR" | wc -l)
ts_study=$(dcmdump -s +P 0020,000D "$(ls "$SHARED"/data/ts/*.dcm | head -1)" | sed 's/.*\[\(.*\)\].*/\1/')
ts_date=$(dcmdump -s +P 0008,0020 "$(ls "$SHARED"/data/ts/*.dcm | head -1)" | sed -n 's/.*\[\(.*\)\].*/\1/p')
[ -n "$ts_date" ] || fail "the test data's Study Date"

N=0
# find_ MODEL(-P|-S) KEYS...: runs findscu; n = the number of matches,
# the responses are in $WORK/q$N
find_() {
    N=$((N + 1))
    mkdir -p "$WORK/q$N"
    findscu "$1" -aec ISONODE -X -od "$WORK/q$N" "${@:2}" 127.0.0.1 "$PORT" > "$WORK/q$N.log" 2>&1
    n=$(ls "$WORK/q$N" | wc -l)
}
value() { dcmdump -s +P "$2" "$1" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }

find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientName -k StudyDate \
     -k ModalitiesInStudy -k NumberOfStudyRelatedInstances
[ "$n" = 2 ] || fail "universal study query: $n matches ($(cat "$WORK/q$N.log" | tail -3))"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$ct_study" -k NumberOfStudyRelatedInstances \
     -k ModalitiesInStudy -k StudyDate
[ "$n" = 1 ] || fail "single-value study query: $n"
[ "$(value "$WORK/q$N/rsp0001.dcm" 0020,1208)" = "$ct_n" ] || fail "NumberOfStudyRelatedInstances"
[ "$(value "$WORK/q$N/rsp0001.dcm" 0008,0061)" = CT ] || fail "ModalitiesInStudy"
[ -z "$(value "$WORK/q$N/rsp0001.dcm" 0008,0020)" ] || fail "StudyDate of the CT study (it has none)"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$ct_study\\$ts_study\\1.2.3.4" -k PatientID
[ "$n" = 2 ] || fail "UID list: $n"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k ModalitiesInStudy=CT
[ "$n" = 1 ] || fail "ModalitiesInStudy=CT: $n"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "StudyDate=${ts_date}-${ts_date}"
[ "$n" = 1 ] || fail "date range: $n"
[ "$(value "$WORK/q$N/rsp0001.dcm" 0020,000d)" = "$ts_study" ] || fail "date range found another study"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "StudyDate=${ts_date}-"
[ "$n" = 1 ] || fail "open-ended date range: $n"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "StudyDate=${ts_date}"
[ "$n" = 1 ] || fail "single date: $n"
find_ -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "StudyDate=-19000101"
[ "$n" = 0 ] || fail "open date range: $n"
ok "Study Root STUDY: universal, single value, UID list, ModalitiesInStudy, date ranges; counts and dates from the index"

ct_name=$(value "$(ls "$CT_DIR"/* | head -1)" 0010,0010)
find_ -P -k QueryRetrieveLevel=PATIENT -k PatientID -k PatientName="${ct_name:0:2}*" \
     -k NumberOfPatientRelatedStudies
[ "$n" -ge 1 ] || fail "Patient Root PATIENT wildcard: $n"
[ "$(value "$WORK/q$N/rsp0001.dcm" 0010,0010)" = "$ct_name" ] || fail "PatientName returned"
find_ -P -k QueryRetrieveLevel=PATIENT -k PatientID -k "PatientName=?${ct_name:1}"
[ "$n" -ge 1 ] || fail "? wildcard: $n"
find_ -P -k QueryRetrieveLevel=PATIENT -k PatientID -k "PatientName=[${ct_name}"
[ "$n" = 0 ] || fail "a '[' must match itself: $n"
find_ -S -k QueryRetrieveLevel=SERIES -k StudyInstanceUID="$ct_study" -k SeriesInstanceUID \
     -k Modality -k NumberOfSeriesRelatedInstances
[ "$n" = 1 ] || fail "series of the CT study: $n"
[ "$(value "$WORK/q$N/rsp0001.dcm" 0020,000e)" = "$ct_series" ] || fail "SeriesInstanceUID returned"
find_ -P -k QueryRetrieveLevel=IMAGE -k SeriesInstanceUID="$ct_series" -k SOPInstanceUID -k InstanceNumber
[ "$n" = "$ct_n" ] || fail "IMAGE level: $n of $ct_n"
python3 - "$WORK/q$N" "$CT_DIR" <<'PY' || fail "SOP Instance UIDs returned differ from those stored"
import os, subprocess, sys
def uid(p):
    out = subprocess.run(["dcmdump", "-s", "+P", "0008,0018", p], capture_output=True, text=True).stdout
    return out.split("[")[1].split("]")[0]
got = sorted(uid(os.path.join(sys.argv[1], f)) for f in os.listdir(sys.argv[1]))
want = sorted(uid(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]))
assert got == want, (len(got), len(want))
PY
ok "Patient Root PATIENT ('*', '?', literal '['), SERIES and IMAGE levels answer what was stored"

# a series of 20,000 index rows (made here, as the C-FIND benchmark does)
# gives C-CANCEL something to stop
need sqlite3
sqlite3 "$DATA/index.sqlite" "PRAGMA busy_timeout = 10000;
INSERT INTO series (study, series_uid, modality) SELECT id, '1.2.3.999', 'OT' FROM studies LIMIT 1;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 20000)
INSERT INTO instances (series, sop_uid, sop_class_uid, transfer_syntax, path, size, sha256, received_at)
SELECT (SELECT id FROM series WHERE series_uid = '1.2.3.999'), '1.2.3.999.' || i, '1.2.840.10008.5.1.4.1.1.7',
       '1.2.840.10008.1.2.1', 'objects/none/' || i, 0, '', '2026-01-01T00:00:00Z' FROM k;" ||
    fail "adding index rows"
find_ -P -v --cancel 3 -k QueryRetrieveLevel=IMAGE -k SeriesInstanceUID=1.2.3.999 -k SOPInstanceUID
[ "$n" -ge 3 ] && [ "$n" -lt 20000 ] || fail "C-CANCEL did not end the matching ($n responses)"
grep -qi "cancel" "$WORK/q$N.log" || fail "no cancel status: $(tail -5 "$WORK/q$N.log")"
for _ in $(seq 20); do grep -q "C-FIND Patient Root IMAGE from FINDSCU: $n match(es)" "$WORK/node.log" && break; sleep 0.1; done
grep -q "C-FIND Patient Root IMAGE from FINDSCU: $n match(es)" "$WORK/node.log" || fail "no log line for the cancelled C-FIND"
ok "C-CANCEL ends a C-FIND of 20,000 matches after $n responses"

find_ -S -aet STORESCU -k QueryRetrieveLevel=STUDY -k StudyInstanceUID
[ "$n" = 0 ] || fail "a peer without query = yes got $n matches"
grep -q "C-FIND STUDY from STORESCU refused (status 0x0124): its \[peer\] does not have query = yes" \
    "$WORK/node.log" || fail "no refusal line"
find_ -S -k QueryRetrieveLevel=PATIENT -k PatientID
[ "$n" = 0 ] || fail "PATIENT level in Study Root answered"
grep -q "C-FIND PATIENT from FINDSCU refused (status 0xa900): level 'PATIENT' is not one of the Study Root model" \
    "$WORK/node.log" || fail "no level refusal line"
ok "a peer without query = yes (0124) and a level outside the model (A900) are refused, with a log line each"
stop_node
