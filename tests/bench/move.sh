#!/bin/bash
# make bench: C-MOVE throughput of isonoded next to Orthanc's, same run:
# each holds philips-phantom-140 (sent by storescu), and movescu asks each
# to move the study to one storescp (fresh directory per round); images/s
# from movescu's start to its final response, best of ROUNDS.  Every DCMTK
# peer gets TCP_NODELAY from ../shared/bench/nodelay.c; Orthanc runs with it
# too; isonoded sets it itself.  Needs: dcmtk; for Orthanc: orthanc, curl.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
study=$(dcmdump -s +P 0020,000D $(echo $files | cut -d' ' -f1) | sed -n 's/.*\[\(.*\)\].*/\1/p')
DEST=$(free_port)
dest_dir() { local d; d=$(mktemp -d "$W/dest.XXXXXX"); echo "$d"; }
start_dest() {
    LD_PRELOAD=$SHIM storescp -aet DEST -od "$1" "$DEST" >/dev/null 2>&1 & DEST_PID=$!
    for _ in $(seq 50); do echoscu -aec DEST 127.0.0.1 "$DEST" >/dev/null 2>&1 && break; sleep 0.1; done
}
measure() { # LABEL AET PORT
    local best=0
    for _ in $(seq "$ROUNDS"); do
        local d; d=$(dest_dir); start_dest "$d"
        local t0 t1
        t0=$(now)
        LD_PRELOAD=$SHIM movescu -S -aec "$2" -aem DEST -k QueryRetrieveLevel=STUDY \
            -k StudyInstanceUID="$study" 127.0.0.1 "$3" >/dev/null 2>&1
        t1=$(now)
        kill "$DEST_PID"; wait "$DEST_PID" 2>/dev/null
        local got; got=$(find "$d" -type f | wc -l)
        [ "$got" = "$N" ] || echo "$1: the destination got $got of $N" >&2
        best=$(python3 -c "print(max($best, $got/($t1-$t0)))")
    done
    printf '%-36s %8.0f images/s\n' "$1" "$best"
}
echo "C-MOVE of one study ($N images of $(basename "$SERIES"), $(du -sh "$SERIES" | cut -f1)) to storescp, best of $ROUNDS"

P=$(free_port)
printf '[node]\nport = %s\ndata_dir = %s/iso\nlog_level = warn\n[anonymize]\nenabled = no\n[reconstruct]\nsettle_seconds = 86400\n[peer mover]\nae_title = MOVESCU\nhost = 127.0.0.1\nport = 104\nretrieve = yes\n[peer dest]\nae_title = DEST\nhost = 127.0.0.1\nport = %s\n' \
    "$P" "$W" "$DEST" > "$W/iso.conf"
"$top/src/isonoded" -c "$W/iso.conf" 2>>"$W/iso.log" & PIDS+=($!)
for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
LD_PRELOAD=$SHIM storescu -aec ISONODE 127.0.0.1 "$P" $files >/dev/null 2>&1 || echo "storescu to isonoded failed"
measure "isonoded" ISONODE "$P"

if command -v Orthanc >/dev/null && command -v curl >/dev/null; then
    OP=$(free_port); H=$(free_port)
    cat > "$W/orthanc.json" <<J
{ "Name":"bench", "StorageDirectory":"$W/orthanc", "IndexDirectory":"$W/orthanc", "DicomAet":"ORTHANC", "DicomPort":$OP, "HttpPort":$H, "RemoteAccessAllowed":false, "AuthenticationEnabled":false, "Plugins":[], "DicomModalities": { "dest": ["DEST", "127.0.0.1", $DEST], "mover": ["MOVESCU", "127.0.0.1", 104] } }
J
    LD_PRELOAD=$SHIM Orthanc "$W/orthanc.json" >"$W/orthanc.log" 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -sf "localhost:$H/system" >/dev/null && break; sleep 0.2; done
    LD_PRELOAD=$SHIM storescu -aec ORTHANC 127.0.0.1 "$OP" $files >/dev/null 2>&1 || echo "storescu to Orthanc failed"
    measure "Orthanc" ORTHANC "$OP"
else
    echo "Orthanc: not installed (apt-get install orthanc curl) - skipped"
fi
