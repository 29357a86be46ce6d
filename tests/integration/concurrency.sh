#!/bin/bash
# 8 concurrent storescu runs, each a different copy of philips-phantom-140
# (own study/series UIDs, new instance UIDs): 1120 images, all succeed, the
# index is exact.
. "$top_srcdir/tests/lib/common.sh"
need storescu dcmodify python3
need_shared
series=$SHARED/data/ct/philips-phantom-140
[ -d "$series" ] || skip "no $series"
for i in $(seq 8); do
    mkdir -p "$WORK/copy$i"
    cp "$series"/* "$WORK/copy$i/"
    dcmodify -nb -gin -m "StudyInstanceUID=1.2.826.0.1.3680043.10.1.$i" \
        -m "SeriesInstanceUID=1.2.826.0.1.3680043.10.1.$i.1" "$WORK/copy$i"/* >/dev/null 2>&1 \
        || fail "dcmodify copy $i"
done
write_conf
start_node
t0=$(date +%s.%N)
pids=()
for i in $(seq 8); do
    storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/copy$i"/* > "$WORK/scu$i.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
t1=$(date +%s.%N)
[ "$rc" = 0 ] || { cat "$WORK"/scu*.log | head -20; fail "a storescu run failed"; }
n=$(count instances)
[ "$n" = 1120 ] || fail "expected 1120 instances, index has $n"
[ "$(count series)" = 8 ] && [ "$(count studies)" = 8 ] || fail "series/studies count"
node ls series --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
assert all(r["NumberOfSeriesRelatedInstances"] == 140 for r in rows), rows' || fail "per-series counts"
[ "$(find "$DATA/objects" -type f | wc -l)" = 1120 ] || fail "file count"
grep -c 'status 0x0000' "$WORK/node.log" | grep -qx 1120 || fail "per-instance log lines"
node verify > "$WORK/verify.log" || { cat "$WORK/verify.log"; fail "verify"; }
ok "8 x 140 images concurrently: 1120 indexed, 140 per series, verify passes ($(python3 -c "print(round(1120/($t1-$t0)))") img/s here, informational)"
stop_node
