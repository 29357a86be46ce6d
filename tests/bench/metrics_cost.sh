#!/bin/bash
# make bench: what the HTTP endpoint costs ingest.  isonoded on its default
# configuration (de-identifying, fsync'd, indexed) takes philips-phantom-140
# by storescu, one association and four concurrent, in alternating rounds:
#   off      [http] port = 0: no endpoint, and nothing is counted;
#   counted  [http] on: every C-STORE, association and delivery counted
#            (relaxed atomics), nobody asking;
#   scraped  [http] on, and one curl fetching /metrics and /status.json
#            every second throughout (Prometheus' default is every 15 s);
# then DCMTK storescp in the same run as the reference.  Each row gives the
# best of the rounds and their spread: "counted" should stay within the
# spread of "off"; "scraped" adds the requests' own CPU (and curl's) on a
# 2-core machine whose ingest is CPU-bound.
# Needs: dcmtk curl.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
# measure runs in a command substitution: the scraper's pid goes through a
# file, and the scraper writes nowhere (an inherited stdout would hold the
# substitution open)
stop_scraper() {
    [ -f "$W/scraper.pid" ] && { kill "$(cat "$W/scraper.pid")" 2>/dev/null; rm -f "$W/scraper.pid"; }
    return 0
}
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
    [ "$HTTP" != off ] && port=$HP
    printf '[node]\nport = %s\ndata_dir = %s\nlog_level = warn\n[reconstruct]\nsettle_seconds = 86400\n[http]\nport = %s\n' \
        "$P" "$d" "$port" > "$W/iso.conf"
    "$top/src/isonoded" -c "$W/iso.conf" 2>>"$W/iso.log" & PEER_PID=$!
    for _ in $(seq 50); do echoscu -aec ISONODE 127.0.0.1 "$P" >/dev/null 2>&1 && break; sleep 0.1; done
    [ -f "$W/key/secret.key" ] || cp -p "$d/secret.key" "$W/key/" 2>/dev/null
    if [ "$HTTP" = scraped ]; then
        (while :; do
            curl -sf "http://127.0.0.1:$HP/metrics" "http://127.0.0.1:$HP/status.json" ||
                echo "scrape failed" >&2
            sleep 1
        done) >/dev/null 2>>"$W/scraper.log" &
        echo $! > "$W/scraper.pid"
    fi
}
echo "C-STORE ingest with and without the HTTP endpoint, $N images of $(basename "$SERIES"), $ROUNDS alternating rounds, images/s"
printf '%-48s %8s %14s\n' "peer" "1 assoc" "4 concurrent"
declare -A one four
for r in $(seq "$ROUNDS"); do
    for HTTP in off counted scraped; do
        ROUNDS_SAVED=$ROUNDS; ROUNDS=1
        set -- $(measure x ISONODE "$P")
        ROUNDS=$ROUNDS_SAVED
        stop_scraper
        one[$HTTP]="${one[$HTTP]:-} $2"; four[$HTTP]="${four[$HTTP]:-} $3"
    done
done
stats() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print('%.0f %.0f %.0f' % (max(v), min(v), sum(v)/len(v)))" $1; }
for HTTP in off counted scraped; do
    set -- $(stats "${one[$HTTP]}") $(stats "${four[$HTTP]}")
    label="isonoded, http $HTTP"
    [ "$HTTP" = off ] && label="isonoded, http off (nothing counted)"
    [ "$HTTP" = counted ] && label="isonoded, http on (counting, not asked)"
    [ "$HTTP" = scraped ] && label="isonoded, http on, scraped every second"
    printf '%-48s %8.0f %14.0f   (1 assoc %s..%s, 4 concurrent %s..%s over the rounds)\n' \
        "$label" "$1" "$4" "$2" "$1" "$5" "$4"
done
[ -s "$W/scraper.log" ] && echo "scrapes that failed: $(wc -l < "$W/scraper.log")"
python3 - "${one[off]}" "${one[counted]}" "${one[scraped]}" "${four[off]}" "${four[counted]}" "${four[scraped]}" <<'PY'
import sys
o1, c1, s1, o4, c4, s4 = ([float(x) for x in a.split()] for a in sys.argv[1:])
print("best of rounds against off: counted %.3f / %.3f, scraped %.3f / %.3f (1 assoc / 4 concurrent)"
      % (max(c1) / max(o1), max(c4) / max(o4), max(s1) / max(o1), max(s4) / max(o4)))
PY
P=$(free_port)
storescp_peer
measure "storescp (files, no fsync, no index)" SCP "$P"
