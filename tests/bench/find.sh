#!/bin/bash
# make bench: C-FIND latency on a large store.  An isonoded index gets
# 100,000 instance rows (1,000 studies of one series of 100 instances, made
# with SQL: the files themselves do not matter to C-FIND), then findscu asks
# (Study Root) for one study by UID, for all studies of a date range, and
# (Patient Root, IMAGE) for the instances of one series; each is timed from
# findscu's start to its last response, best of 5 (findscu with TCP_NODELAY
# from ../shared/bench/nodelay.c, as every peer in make bench; without it
# Nagle on findscu's side adds ~40 ms to each query).  The first response of a
# streamed answer comes before the last, so these bound it from above.
# Needs: dcmtk, sqlite3.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
trap 'kill $NODE 2>/dev/null; rm -rf "$W"' EXIT
P=$(free_port)
printf '[node]\nport = %s\ndata_dir = %s/data\nlog_level = warn\n[anonymize]\nenabled = no\n[peer f]\nae_title = FINDSCU\nhost = 127.0.0.1\nport = 104\nquery = yes\n' \
    "$P" "$W" > "$W/iso.conf"
"$top/src/isonoded" -c "$W/iso.conf" 2>>"$W/iso.log" & NODE=$!
for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
sqlite3 "$W/data/index.sqlite" "PRAGMA busy_timeout = 10000; BEGIN;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1000)
INSERT INTO patients (patient_id, patient_name) SELECT 'P' || i, 'Name^' || i FROM k;
INSERT INTO studies (patient, study_uid, study_date) SELECT id, '1.2.3.' || id, printf('2026%04d', 100 + id % 1200) FROM patients;
INSERT INTO series (study, series_uid, modality) SELECT id, '1.2.3.' || id || '.1', 'CT' FROM studies;
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 100)
INSERT INTO instances (series, sop_uid, sop_class_uid, transfer_syntax, path, size, sha256, received_at)
SELECT s.id, s.series_uid || '.' || k.i, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1',
       'objects/bench/' || s.id || '.' || k.i, 0, '', '2026-01-01T00:00:00Z' FROM series s, k;
COMMIT;" > /dev/null || { echo "cannot fill the index"; exit 1; }
n=$(sqlite3 "$W/data/index.sqlite" "SELECT count(*) FROM instances")
best() { # LABEL findscu-args...: best of 5, ms
    local b=999999
    for _ in 1 2 3 4 5; do
        local t0 t1
        t0=$(now); LD_PRELOAD=$SHIM findscu -aec ISONODE "${@:2}" 127.0.0.1 "$P" >/dev/null 2>&1; t1=$(now)
        b=$(python3 -c "print(min($b, 1000*($t1-$t0)))")
    done
    printf '%-58s %8.1f ms\n' "$1" "$b"
}
echo "C-FIND on a store of $n instances (1,000 studies), findscu start to last response, best of 5"
best "Study Root STUDY, one StudyInstanceUID" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=1.2.3.500 -k PatientName -k NumberOfStudyRelatedInstances
best "Study Root STUDY, StudyDate range (about 1/12 of studies)" -S -k QueryRetrieveLevel=STUDY -k StudyDate=20260100-20260199 -k StudyInstanceUID
best "Patient Root IMAGE, the 100 instances of one series" -P -k QueryRetrieveLevel=IMAGE -k SeriesInstanceUID=1.2.3.700.1 -k SOPInstanceUID
best "Patient Root PATIENT, PatientName=Name^77*" -P -k QueryRetrieveLevel=PATIENT -k PatientName=Name^77* -k PatientID
best "Study Root STUDY, no match (association + one query)" -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=none
