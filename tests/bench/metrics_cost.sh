#!/bin/bash
# make bench: what the HTTP endpoint costs ingest.  isonoded on its default
# configuration (de-identifying, fsync'd, indexed) takes philips-phantom-140
# by storescu, one association and four concurrent, in alternating rounds:
#   off      [http] port = 0 (no endpoint);
#   scraped  [http] on, with /metrics and /status.json fetched 5 times a
#            second throughout (Prometheus scrapes every 15 s: this is 75
#            times harder, so any cost shows);
# then DCMTK storescp in the same run as the reference.  The counters the
# SCP keeps are relaxed atomics, so "off" and "scraped" should differ by no
# more than the rounds' own spread, which is printed too.
# Needs: dcmtk curl.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
SCRAPER_PID=
stop_scraper() { [ -n "$SCRAPER_PID" ] && { kill "$SCRAPER_PID"; wait "$SCRAPER_PID" 2>/dev/null; }; SCRAPER_PID=; }
trap 'stop_scraper; stop_peer 2>/dev/null; rm -rf "$W"' EXIT
command -v curl >/dev/null || { echo "needs curl (apt-get install curl)"; exit 1; }
make_copies 4 11
P=$(free_port); HP=$(free_port)
HTTP=off
mkdir -p "$W/key"
reset_peer() {
    stop_scraper
    stop_peer
    local d port=0
    d=$(fresh_dir iso)
    [ -f "$W/key/secret.key" ] && cp -p "$W/key/secret.key" "$d/"
    [ "$HTTP" = scraped ] && port=$HP
    printf '[node]\nport = %s\ndata_dir = %s\nlog_level = warn\n[reconstruct]\nsettle_seconds = 86400\n[http]\nport = %s\n' \
        "$P" "$d" "$port" > "$W/iso.conf"
    "$top/src/isonoded" -c "$W/iso.conf" 2>>"$W/iso.log" & PEER_PID=$!
    for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
    [ -f "$W/key/secret.key" ] || cp -p "$d/secret.key" "$W/key/" 2>/dev/null
    if [ "$HTTP" = scraped ]; then
        (while :; do
            curl -sf "http://127.0.0.1:$HP/metrics" >/dev/null
            curl -sf "http://127.0.0.1:$HP/status.json" >/dev/null
            sleep 0.2
        done) & SCRAPER_PID=$!
    fi
}
echo "C-STORE ingest with and without the HTTP endpoint, $N images of $(basename "$SERIES"), $ROUNDS alternating rounds, images/s"
printf '%-44s %8s %14s\n' "peer" "1 assoc" "4 concurrent"
declare -A one four
for r in $(seq "$ROUNDS"); do
    for HTTP in off scraped; do
        ROUNDS_SAVED=$ROUNDS; ROUNDS=1
        set -- $(measure x ISONODE "$P")
        ROUNDS=$ROUNDS_SAVED
        stop_scraper
        one[$HTTP]="${one[$HTTP]:-} $2"; four[$HTTP]="${four[$HTTP]:-} $3"
    done
done
stats() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print('%.0f %.0f %.0f' % (max(v), min(v), sum(v)/len(v)))" $1; }
for HTTP in off scraped; do
    set -- $(stats "${one[$HTTP]}") $(stats "${four[$HTTP]}")
    label="isonoded, http $HTTP"
    [ "$HTTP" = scraped ] && label="isonoded, http scraped 5/s"
    printf '%-44s %8.0f %14.0f   (1 assoc %s..%s, 4 concurrent %s..%s over the rounds)\n' \
        "$label" "$1" "$4" "$2" "$1" "$5" "$4"
done
python3 - "${one[off]}" "${one[scraped]}" "${four[off]}" "${four[scraped]}" <<'PY'
import sys
o1, s1, o4, s4 = ([float(x) for x in a.split()] for a in sys.argv[1:])
print("scraped / off, best of rounds: %.3f (1 assoc), %.3f (4 concurrent)" % (max(s1) / max(o1), max(s4) / max(o4)))
PY
P=$(free_port)
reset_peer() {
    stop_peer
    local d
    d=$(fresh_dir scp)
    LD_PRELOAD=$SHIM storescp -aet SCP -od "$d" "$P" >/dev/null 2>&1 & PEER_PID=$!
    for _ in $(seq 50); do echoscu -aec SCP 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
}
measure "storescp (files, no fsync, no index)" SCP "$P"
