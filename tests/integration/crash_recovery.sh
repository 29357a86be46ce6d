#!/bin/bash
# kill -9 at different moments while storescu sends philips-phantom-140;
# after each restart `isonode verify` passes and every instance whose
# success response reached storescu is in the index.
. "$top_srcdir/tests/lib/common.sh"
need storescu dcmdump python3
need_shared
series=$SHARED/data/ct/philips-phantom-140
[ -d "$series" ] || skip "no $series"
files=$(find "$series" -type f | sort)
for f in $files; do dcmdump -s -Un +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/'; done > "$WORK/uids"
write_conf
for delay in 0.1 0.2 0.3 0.45; do
    start_node
    storescu -v -aec ISONODE 127.0.0.1 "$PORT" $files > "$WORK/scu.log" 2>&1 &
    scu=$!
    sleep "$delay"
    kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=
    wait "$scu" 2>/dev/null
    acked=$(grep -c 'Received Store Response (Success)' "$WORK/scu.log")
    start_node
    grep -q 'previous run did not stop cleanly' "$WORK/node.log" || fail "no recovery after kill -9"
    node verify > "$WORK/verify.log" || { cat "$WORK/verify.log"; fail "verify after kill -9 at ${delay}s"; }
    node ls instances --json | python3 -c '
import json, sys
have = {r["SOPInstanceUID"] for r in json.load(sys.stdin)}
want = [l.strip() for l in open(sys.argv[1])][: int(sys.argv[2])]
missing = [u for u in want if u not in have]
sys.exit("acknowledged but missing: %s" % missing[:3] if missing else 0)' "$WORK/uids" "$acked" \
        || fail "kill -9 at ${delay}s lost acknowledged instances"
    [ -z "$(ls -A "$DATA/tmp")" ] || fail "tmp not emptied by recovery"
    ok "kill -9 after ${delay}s: $acked acknowledged, all present, $(count instances) indexed, verify passes"
    stop_node
done

# The same with de-identification on (the default): the stored UIDs are new,
# so count what was acknowledged and check the vault maps each stored
# instance back to an acknowledged original.
DATA=$WORK/data-anon
ANONYMIZE=yes write_conf
for delay in 0.15 0.35; do
    start_node
    storescu -v -aec ISONODE 127.0.0.1 "$PORT" $files > "$WORK/scu.log" 2>&1 &
    scu=$!
    sleep "$delay"
    kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=
    wait "$scu" 2>/dev/null
    acked=$(grep -c 'Received Store Response (Success)' "$WORK/scu.log")
    start_node
    node verify > "$WORK/verify.log" || { cat "$WORK/verify.log"; fail "verify after kill -9 (de-identifying)"; }
    node ls instances --json | python3 -c 'import json,sys; [print(r["SOPInstanceUID"]) for r in json.load(sys.stdin)]' > "$WORK/stored"
    for u in $(cat "$WORK/stored"); do
        node vault lookup "$u" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uid"]["original"])'
    done | sort > "$WORK/originals"
    head -n "$acked" "$WORK/uids" | sort > "$WORK/acked"
    missing=$(comm -23 "$WORK/acked" "$WORK/originals" | head -3)
    [ -z "$missing" ] || fail "de-identifying, kill -9 at ${delay}s lost acknowledged instances: $missing"
    ok "de-identifying, kill -9 after ${delay}s: $acked acknowledged, all stored (by their vault rows), verify passes"
    stop_node
done
