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
# Then the same run compares isonoded with Orthanc on one store both really
# received: 10,000 small CT objects (500 studies of 20, small_store.py),
# sent to each by four storescu processes, and the same queries, best of 5.
# Needs: dcmtk, sqlite3; for Orthanc: orthanc, curl.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
PIDS=()
trap 'kill $NODE "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
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
AEC=ISONODE
best_ms() { # PORT findscu-args...: best of 5, ms
    local b=999999
    for _ in 1 2 3 4 5; do
        local t0 t1
        t0=$(now); LD_PRELOAD=$SHIM findscu -aec "$AEC" "${@:2}" 127.0.0.1 "$1" >/dev/null 2>&1; t1=$(now)
        b=$(python3 -c "print(min($b, 1000*($t1-$t0)))")
    done
    echo "$b"
}
best() { # LABEL findscu-args...: best of 5 on the 100k node
    printf '%-58s %8.1f ms\n' "$1" "$(best_ms "$P" "${@:2}")"
}
echo "C-FIND on a store of $n instances (1,000 studies), findscu start to last response, best of 5"
best "Study Root STUDY, one StudyInstanceUID" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=1.2.3.500 -k PatientName -k NumberOfStudyRelatedInstances
best "Study Root STUDY, StudyDate range (about 1/12 of studies)" -S -k QueryRetrieveLevel=STUDY -k StudyDate=20260100-20260199 -k StudyInstanceUID
best "Patient Root IMAGE, the 100 instances of one series" -P -k QueryRetrieveLevel=IMAGE -k SeriesInstanceUID=1.2.3.700.1 -k SOPInstanceUID
best "Patient Root PATIENT, PatientName=Name^77*" -P -k QueryRetrieveLevel=PATIENT -k PatientName=Name^77* -k PatientID
best "Study Root STUDY, no match (association + one query)" -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=none

# ---- the same 10,000-instance store in isonoded and in Orthanc ----
python3 "$here/small_store.py" "$W/small" 500 20 || { echo "cannot write the small store"; exit 1; }
send4() { # AET PORT: four storescu processes, 125 studies each
    local k pids=()
    for k in 0 1 2 3; do
        dirs=$(seq $((k * 125 + 1)) $((k * 125 + 125)) | sed "s|^|$W/small/s|")
        LD_PRELOAD=$SHIM storescu -aec "$1" 127.0.0.1 "$2" $(for d in $dirs; do echo "$d"/*.dcm; done) >/dev/null 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
}
P2=$(free_port)
printf '[node]\nport = %s\ndata_dir = %s/data2\nlog_level = warn\n[anonymize]\nenabled = no\n[reconstruct]\nsettle_seconds = 86400\n[route all]\nignore = yes\n[peer f]\nae_title = FINDSCU\nhost = 127.0.0.1\nport = 104\nquery = yes\n' \
    "$P2" "$W" > "$W/iso2.conf"
"$top/src/isonoded" -c "$W/iso2.conf" 2>>"$W/iso2.log" & PIDS+=($!)
for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P2" >/dev/null 2>&1 && break; sleep 0.1; done
send4 ISONODE "$P2"
n2=$(sqlite3 "$W/data2/index.sqlite" "SELECT count(*) FROM instances")
orthanc_port=
if command -v Orthanc >/dev/null && command -v curl >/dev/null; then
    OP=$(free_port); H=$(free_port)
    cat > "$W/orthanc.json" <<J
{ "Name":"bench", "StorageDirectory":"$W/orthanc", "IndexDirectory":"$W/orthanc", "DicomAet":"ORTHANC", "DicomPort":$OP, "HttpPort":$H, "RemoteAccessAllowed":false, "AuthenticationEnabled":false, "Plugins":[], "DicomModalities": { "finder": ["FINDSCU", "127.0.0.1", 104] } }
J
    LD_PRELOAD=$SHIM Orthanc "$W/orthanc.json" >"$W/orthanc.log" 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -sf "localhost:$H/system" >/dev/null && break; sleep 0.2; done
    send4 ORTHANC "$OP"
    no=$(curl -sf "localhost:$H/statistics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])')
    orthanc_port=$OP
fi
R=1.2.826.0.1.3680043.10.777
echo
echo "C-FIND on the same store in both: isonoded $n2 instances${orthanc_port:+, Orthanc $no} (500 studies of 20), best of 5"
printf '%-58s %10s %10s\n' "" isonoded Orthanc
both() { # LABEL findscu-args...
    local a o="-"
    AEC=ISONODE; a=$(best_ms "$P2" "${@:2}")
    if [ -n "$orthanc_port" ]; then AEC=ORTHANC; o=$(printf '%.1f ms' "$(best_ms "$orthanc_port" "${@:2}")"); fi
    printf '%-58s %7.1f ms %10s\n' "$1" "$a" "$o"
}
both "Study Root STUDY, one StudyInstanceUID" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=$R.250 -k PatientName -k NumberOfStudyRelatedInstances
both "Study Root STUDY, StudyDate range (about 1/12 of studies)" -S -k QueryRetrieveLevel=STUDY -k StudyDate=20260101-20260131 -k StudyInstanceUID
both "Study Root IMAGE, the 20 instances of one series" -S -k QueryRetrieveLevel=IMAGE -k StudyInstanceUID=$R.300 -k SeriesInstanceUID=$R.300.1 -k SOPInstanceUID
both "Patient Root PATIENT, PatientName=Name^7*" -P -k QueryRetrieveLevel=PATIENT -k PatientName=Name^7* -k PatientID
both "Study Root STUDY, no match (association + one query)" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=none
[ -n "$orthanc_port" ] || echo "Orthanc: not installed (apt-get install orthanc curl) - skipped"
