# lib.sh — what the ingest and job benchmarks share, sourced after `set -u`:
# the paths, a work directory $W, the TCP_NODELAY shim for DCMTK peers and
# storescu (../shared/bench/nodelay.c, as in ../shared/bench/ingest_anchor.sh),
# the series' files, copies of it with their own study and series UIDs, and
# small helpers.  The caller sets its own EXIT trap (it must remove $W).
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
