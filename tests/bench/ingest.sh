#!/bin/bash
# make bench: C-STORE ingest rate of isonoded next to the reference peers,
# measured in one run on this machine: DCMTK storescp (writes files, no
# fsync, no index) and Orthanc (SQLite index, SyncStorageArea on), each fed
# by storescu over loopback with one association and with 4 concurrent
# associations (4 different copies of the series).  TCP_NODELAY is set on
# the peers and on storescu with ../shared/bench/nodelay.c, as in
# ../shared/bench/ingest_anchor.sh; isonoded sets it itself.
# Every round gets fresh directories and nothing is deleted until the end:
# ext4 without a journal (as on this project's VMs) skips inodes freed in the
# last minutes when it allocates one, so deleting the previous round's files
# just before a timed run makes every file creation scan past them -- for
# every peer alike, and nothing like a node's steady state.
# Needs: dcmtk; for Orthanc: apt-get install orthanc curl.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
trap 'stop_peer 2>/dev/null; rm -rf "$W"' EXIT
make_copies 4 9
echo "C-STORE ingest, $N images of $(basename "$SERIES") ($(du -sh "$SERIES" | cut -f1)), best of $ROUNDS rounds, images/s"
printf '%-36s %8s %14s\n' "peer" "1 assoc" "4 concurrent"

# isonoded: fsync'd and indexed, with de-identification off and on (the
# default); the secret key is kept between rounds, as in a real node; no
# series settles during a round, so no reconstruction competes (jobs.sh
# measures ingest under reconstruction)
P=$(free_port)
ANON=no
mkdir -p "$W/key"
reset_peer() {
    stop_peer
    local d
    d=$(fresh_dir iso)
    [ -f "$W/key/secret.key" ] && cp -p "$W/key/secret.key" "$d/"
    printf '[node]\nport = %s\ndata_dir = %s\nlog_level = warn\n[reconstruct]\nsettle_seconds = 86400\n[anonymize]\nenabled = %s\n' \
        "$P" "$d" "$ANON" > "$W/iso.conf"
    "$top/src/isonoded" -c "$W/iso.conf" 2>>"$W/iso.log" & PEER_PID=$!
    for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
    [ -f "$W/key/secret.key" ] || cp -p "$d/secret.key" "$W/key/" 2>/dev/null
}
# the two isonoded rows alternate round by round, so a slow spell of the
# disk hits both alike
off1=0; off4=0; on1=0; on4=0
for r in $(seq "$ROUNDS"); do
    for ANON in no yes; do
        ROUNDS_SAVED=$ROUNDS; ROUNDS=1
        row=$(measure x ISONODE "$P")
        ROUNDS=$ROUNDS_SAVED
        set -- $row
        if [ "$ANON" = no ]; then
            off1=$(python3 -c "print(max($off1, $2))"); off4=$(python3 -c "print(max($off4, $3))")
        else
            on1=$(python3 -c "print(max($on1, $2))"); on4=$(python3 -c "print(max($on4, $3))")
        fi
    done
done
printf '%-36s %8.0f %14.0f\n' "isonoded (anonymize off)" "$off1" "$off4"
printf '%-36s %8.0f %14.0f   (%+.0f%% / %+.0f%% vs off)\n' "isonoded (de-identifying, default)" \
    "$on1" "$on4" "$(python3 -c "print(100*($on1/$off1-1))")" "$(python3 -c "print(100*($on4/$off4-1))")"

# DICOM TLS: the same node with both listeners, plain and TLS rounds
# alternating (de-identification off, so the difference is TLS), then
# storescp +tls; storescu +tls with a client certificate (mutual
# authentication), certificates from tests/lib/certs.sh
. "$top/tests/lib/certs.sh"
make_pki "$W/pki" >/dev/null 2>&1 || { echo "openssl could not make test certificates"; exit 1; }
TLS_OPTS="+tls $W/pki/mod1.key $W/pki/mod1.pem +cf $W/pki/ca.pem"
P=$(free_port); TP=$(free_port)
reset_peer() {
    stop_peer
    local d
    d=$(fresh_dir isotls)
    printf '[node]\nport = %s\ntls_port = %s\ndata_dir = %s\nlog_level = warn\n[reconstruct]\nsettle_seconds = 86400\n[anonymize]\nenabled = no\n[tls]\ncertificate = %s\nprivate_key = %s\nca_file = %s\n' \
        "$P" "$TP" "$d" "$W/pki/node.pem" "$W/pki/node.key" "$W/pki/ca.pem" > "$W/isotls.conf"
    "$top/src/isonoded" -c "$W/isotls.conf" 2>>"$W/iso.log" & PEER_PID=$!
    for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
}
pl1=0; pl4=0; tl1=0; tl4=0
for r in $(seq "$ROUNDS"); do
    ROUNDS_SAVED=$ROUNDS; ROUNDS=1
    set -- $(SCU_OPTS= measure x ISONODE "$P")
    pl1=$(python3 -c "print(max($pl1, $2))"); pl4=$(python3 -c "print(max($pl4, $3))")
    set -- $(SCU_OPTS=$TLS_OPTS measure x ISONODE "$TP")
    tl1=$(python3 -c "print(max($tl1, $2))"); tl4=$(python3 -c "print(max($tl4, $3))")
    ROUNDS=$ROUNDS_SAVED
done
printf '%-36s %8.0f %14.0f\n' "isonoded plain port (same node)" "$pl1" "$pl4"
printf '%-36s %8.0f %14.0f   (%.2fx / %.2fx plain; goal >= 0.8x)\n' "isonoded TLS port (TLS 1.3, mutual)" \
    "$tl1" "$tl4" "$(python3 -c "print($tl1/$pl1)")" "$(python3 -c "print($tl4/$pl4)")"
P=$(free_port)
reset_peer() {
    stop_peer
    local d
    d=$(fresh_dir scptls)
    LD_PRELOAD=$SHIM storescp -aet SCP +tls "$W/pki/peer.key" "$W/pki/peer.pem" +cf "$W/pki/ca.pem" \
        -od "$d" "$P" >/dev/null 2>&1 & PEER_PID=$!
    for _ in $(seq 50); do LD_PRELOAD=$SHIM echoscu $TLS_OPTS -aec SCP 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
}
SCU_OPTS=$TLS_OPTS measure "storescp +tls (files, no fsync)" SCP "$P"

# storescp: files only
P=$(free_port)
storescp_peer
measure "storescp (files, no fsync, no index)" SCP "$P"

# Orthanc: SQLite index, SyncStorageArea
if command -v Orthanc >/dev/null && command -v curl >/dev/null; then
    P=$(free_port); H=$(free_port)
    reset_peer() {
        stop_peer
        local d
        d=$(fresh_dir orthanc)
        cat > "$W/orthanc.json" <<J
{ "Name":"bench", "StorageDirectory":"$d", "IndexDirectory":"$d", "DicomAet":"ORTHANC", "DicomPort":$P, "HttpPort":$H, "RemoteAccessAllowed":false, "AuthenticationEnabled":false, "SyncStorageArea":true, "DicomThreadsCount":4, "Plugins":[] }
J
        LD_PRELOAD=$SHIM Orthanc "$W/orthanc.json" >"$W/orthanc.log" 2>&1 & PEER_PID=$!
        for _ in $(seq 100); do curl -sf "localhost:$H/system" >/dev/null && break; sleep 0.2; done
    }
    measure "Orthanc (SQLite, SyncStorageArea)" ORTHANC "$P"
else
    echo "Orthanc: not installed (apt-get install orthanc curl) - skipped"
fi
