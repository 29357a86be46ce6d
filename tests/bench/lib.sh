# lib.sh — what the ingest and job benchmarks share, sourced after `set -u`:
# the paths, a work directory $W, the TCP_NODELAY shim for DCMTK peers and
# storescu (../shared/bench/nodelay.c, as in ../shared/bench/ingest_anchor.sh),
# the series' files, copies of it with their own study and series UIDs, the
# timed sending (measure, over a reset_peer the caller defines), and small
# helpers.  The caller sets its own EXIT trap (it must remove $W).
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
SHARED=${SHARED:-$(cd "$top/.." && pwd)/shared}
SERIES=${1:-$SHARED/data/ct/philips-phantom-140}
ROUNDS=${ROUNDS:-3}
[ -d "$SERIES" ] || { echo "no series at $SERIES"; exit 1; }
W=$(mktemp -d)
cc -shared -fPIC -O2 -o "$W/nodelay.so" "$SHARED/bench/nodelay.c" -ldl || { rm -rf "$W"; exit 1; }
SHIM=$W/nodelay.so
files=$(find "$SERIES" -type f ! -name DIRFILE | sort); N=$(echo $files | wc -w)

# make_copies COUNT TAG: $W/copy1..COUNT, each with new instance UIDs and its
# own study and series (UID root ...TAG.i)
make_copies() {
    local i
    for i in $(seq "$1"); do
        mkdir -p "$W/copy$i"; cp $files "$W/copy$i/"
        dcmodify -nb -gin -m "StudyInstanceUID=1.2.826.0.1.3680043.10.$2.$i" \
            -m "SeriesInstanceUID=1.2.826.0.1.3680043.10.$2.$i.1" "$W/copy$i"/* >/dev/null 2>&1
    done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

fresh_dir() { mktemp -d "$W/$1.XXXXXX"; }

# measure LABEL AET PORT: prints one row, single and concurrent img/s (best
# of ROUNDS); reset_peer starts a fresh peer before each round so every round
# stores new objects; stop_peer ends it.
PEER_PID=
SCU_OPTS=
stop_peer() { [ -n "$PEER_PID" ] && { kill "$PEER_PID"; wait "$PEER_PID" 2>/dev/null; }; PEER_PID=; }
measure() {
    local label=$1 aet=$2 port=$3 best1=0 best4=0
    for r in $(seq "$ROUNDS"); do
        reset_peer
        local t0 t1
        t0=$(now); LD_PRELOAD=$SHIM storescu $SCU_OPTS -aec "$aet" 127.0.0.1 "$port" $files >/dev/null 2>&1 || echo "storescu failed" >&2; t1=$(now)
        best1=$(python3 -c "print(max($best1, $N/($t1-$t0)))")
        t0=$(now)
        local pids=()
        for i in 1 2 3 4; do LD_PRELOAD=$SHIM storescu $SCU_OPTS -aec "$aet" 127.0.0.1 "$port" "$W/copy$i"/* >/dev/null 2>&1 & pids+=($!); done
        wait "${pids[@]}"; t1=$(now)
        best4=$(python3 -c "print(max($best4, 4*$N/($t1-$t0)))")
    done
    stop_peer
    printf '%-36s %8.0f %14.0f\n' "$label" "$best1" "$best4"
}


# storescp_peer: reset_peer for DCMTK storescp (files, no fsync, no index) on
# $P, fresh directory per round, TCP_NODELAY through the shim.
storescp_peer() {
    reset_peer() {
        stop_peer
        local d
        d=$(fresh_dir scp)
        LD_PRELOAD=$SHIM storescp -aet SCP -od "$d" "$P" >/dev/null 2>&1 & PEER_PID=$!
        for _ in $(seq 50); do echoscu -aec SCP 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
    }
}
