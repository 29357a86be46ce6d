#!/bin/bash
# make bench: the unattended node's figures, measured in one run on this
# machine.
#   1. Latency: storescu (calling AE SENDER) sends philips-phantom-140 to a
#      de-identifying isonoded; DCMTK storescp stands in for the sender's
#      port.  Printed: from the last C-STORE response (storescu's exit) to
#      the last derived object stored at the receiver, minus settle_seconds
#      (goal: <= 2 s), next to ../shared/bench/seed_pipeline.py's wall time
#      for the same series (pydicom + VTK, no DICOM output, no network).
#   2. Load: 4 senders each send a different copy of the series while the
#      node reconstructs 4 others (jobs queued back to back): C-STORE
#      failures (goal: none) and the ingest rate against the same 4 sends
#      with no job running (goal: drops by less than half).
# TCP_NODELAY on storescu/storescp through ../shared/bench/nodelay.c, as in
# ../shared/bench/ingest_anchor.sh.  Needs: dcmtk, python3-vtk9 and
# python3-pydicom for the seed pipeline column.
set -u
SETTLE=${SETTLE:-2}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
make_copies 8 8
RP=$(free_port); P=$(free_port)

# start_node SETTLE: a fresh store and receiver
start_node() {
    stop_all
    rm -rf "$W/data" "$W/recv"; mkdir -p "$W/recv"
    LD_PRELOAD=$SHIM storescp -aet SENDER -od "$W/recv" "$RP" >/dev/null 2>&1 & PIDS+=($!)
    printf '[node]\nport = %s\ndata_dir = %s\nlog_level = info\n[reconstruct]\nsettle_seconds = %s\n[peer sender]\nae_title = SENDER\nhost = 127.0.0.1\nport = %s\n' \
        "$P" "$W/data" "$1" "$RP" > "$W/iso.conf"
    "$top/src/isonoded" -c "$W/iso.conf" > "$W/node.log" 2>&1 & NODE=$!; PIDS+=($NODE)
    for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PIDS=()
}
send() { LD_PRELOAD=$SHIM storescu -aet SENDER -aec ISONODE 127.0.0.1 "$P" "$@" >/dev/null 2>&1; }
jobs_done() {
    "$top/src/isonode" -c "$W/iso.conf" jobs list --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if len(j) >= int(sys.argv[1]) and all(r["state"] not in ("queued", "running") for r in j) else 1)' "$1"
}
outbox_sent() {
    "$top/src/isonode" -c "$W/iso.conf" outbox list --json 2>/dev/null | python3 -c '
import json, sys
o = json.load(sys.stdin)
sys.exit(0 if o and all(r["state"] == "sent" for r in o) else 1)'
}

echo "== unattended node: $N images of $(basename "$SERIES"), settle_seconds = $SETTLE, de-identifying, 2 CPUs"
best=999
for r in $(seq "$ROUNDS"); do
    start_node "$SETTLE"
    send $files || echo "storescu failed" >&2
    t0=$(now)
    # wait by reading the node's log (cheap: polling the CLI would compete with the job)
    for _ in $(seq 3000); do grep -q 'object(s) delivered to sender' "$W/node.log" && break; sleep 0.02; done
    sleep 0.3
    jobs_done 1 && outbox_sent || echo "  (the job or its deliveries did not finish)" >&2
    # the moment the receiver wrote its last file
    t1=$(python3 -c "import os,sys; print(max(os.stat(os.path.join(sys.argv[1], f)).st_mtime for f in os.listdir(sys.argv[1])))" "$W/recv")
    n=$(ls "$W/recv" | wc -l)
    lat=$(python3 -c "print('%.3f' % ($t1 - $t0 - $SETTLE))")
    job=$(grep -o 'job 1 done in [0-9.]* s' "$W/node.log" | grep -o '[0-9.]* s')
    echo "  round $r: $n objects at the receiver, latency after settle $lat s (job $job)"
    best=$(python3 -c "print(min($best, $lat))")
done
t0=$(now)
if /usr/bin/python3 -c 'import vtk, pydicom' 2>/dev/null; then
    /usr/bin/python3 "$SHARED/bench/seed_pipeline.py" "$SERIES" 300 "$W/seed.stl" 2 > /dev/null 2>&1
    t1=$(now)
    seed=$(python3 -c "print('%.3f' % ($t1 - $t0))")
else
    seed="(python3-vtk9 python3-pydicom not installed)"
fi
printf '%-62s %s s\n' "latency: last C-STORE -> last result stored at the sender, minus settle (best of $ROUNDS)" "$best"
printf '%-62s %s s\n' "seed_pipeline.py, same series (STL only, no DICOM, no network)" "$seed"

echo "== load: 4 senders, 4 different series, 4 x $N images"
# baseline: no job runs (settle far away)
start_node 3600
t0=$(now)
pids=(); for i in 1 2 3 4; do send "$W/copy$i"/* & pids+=($!); done
fails=0; for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t1=$(now)
base=$(python3 -c "print(4*$N/($t1-$t0))")
# with jobs: 4 series queued first, the 4 sends start when the first job runs
start_node 0
pids=(); for i in 5 6 7 8; do send "$W/copy$i"/* & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
for _ in $(seq 3000); do grep -q 'job [0-9]* started' "$W/node.log" && break; sleep 0.01; done
t0=$(now)
pids=(); for i in 1 2 3 4; do send "$W/copy$i"/* & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t1=$(now)
loaded=$(python3 -c "print(4*$N/($t1-$t0))")
running=$(grep -c 'job [0-9]* started' "$W/node.log")
failed_stores=$(grep -o 'failed [0-9]*' "$W/node.log" | awk '{s += $2} END {print s + 0}')
printf '%-62s %8.0f img/s\n' "ingest, no job running" "$base"
printf '%-62s %8.0f img/s (%+.0f%%)\n' "ingest while reconstructing ($running jobs started by the end)" "$loaded" \
    "$(python3 -c "print(100*($loaded/$base-1))")"
printf '%-62s %8d\n' "failed C-STOREs (storescu exits + node's association counts)" "$((fails + failed_stores))"
stop_all
