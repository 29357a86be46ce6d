#!/bin/bash
# The persistent outbox with real peers: objects queued for a destination
# that is down are delivered once it comes up (DCMTK storescp), exactly
# once, while a destination that never answers is retried with backoff and
# dead-lettered without holding the other up; a restart resends nothing;
# the operator commands list, retry and purge.
. "$top_srcdir/tests/lib/common.sh"
need storescp storescu
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" || fail "phantom"
files=$(ls "$WORK/src"/*.dcm | head -5)
LATE=$(free_port)
NEVER=$(free_port)
write_conf "" "[outbox]\\nmax_attempts = 3\\nretry_base_seconds = 1\\nretry_max_seconds = 2\\n[peer late]\\nae_title = LATE\\nhost = 127.0.0.1\\nport = $LATE\\n[peer never]\\nae_title = NEVER\\nhost = 127.0.0.1\\nport = $NEVER"
start_node
node outbox add late $files || fail "outbox add late"
node outbox add never $(ls "$WORK/src"/*.dcm | tail -2) || fail "outbox add never"
node outbox add late $files || fail "outbox add again"
[ "$(node outbox list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 7 ] \
    || fail "queuing the same objects twice added items"
# the destination comes up after its first failed attempt (not after a fixed
# time: attempts 2 and 3 are still to come then, however slow this machine)
for _ in $(seq 100); do
    grep -q 'object(s) for late not sent' "$WORK/node.log" && break
    sleep 0.1
done
grep -q 'object(s) for late not sent' "$WORK/node.log" || fail "no failed attempt for the late destination"
mkdir -p "$WORK/late"
storescp -v -aet LATE -od "$WORK/late" "$LATE" > "$WORK/late.log" 2>&1 &
scp_pid=$!
for _ in $(seq 100); do
    [ "$(grep -c 'Received Store Request' "$WORK/late.log")" -ge 5 ] && break
    sleep 0.2
done
sleep 2
got=$(grep -c 'Received Store Request' "$WORK/late.log")
[ "$got" = 5 ] || fail "late destination received $got objects, want 5"
ok "objects for a destination that was down arrive once it is up, once each"
for _ in $(seq 50); do
    node outbox list --json > "$WORK/ob.json"
    python3 -c 'import json,sys; sys.exit(0 if all(r["state"] == "dead" for r in json.load(open(sys.argv[1])) if r["destination"] == "never") else 1)' "$WORK/ob.json" && break
    sleep 0.2
done
python3 - "$WORK/ob.json" <<'PY' || fail "outbox states"
import json, sys
rows = json.load(open(sys.argv[1]))
late = [r for r in rows if r["destination"] == "late"]
never = [r for r in rows if r["destination"] == "never"]
assert len(late) == 5 and all(r["state"] == "sent" and r["sent_at"] for r in late), late
assert len(never) == 2 and all(r["state"] == "dead" and r["attempts"] == 3 and r["last_error"] for r in never), never
print("late: 5 sent; never: 2 dead after 3 attempts (%s)" % never[0]["last_error"])
PY
ok "a destination that never answers is dead-lettered after max_attempts, the other unaffected"
stop_node
start_node
sleep 2
got=$(grep -c 'Received Store Request' "$WORK/late.log")
[ "$got" = 5 ] || fail "after a restart the destination received $got objects"
ok "a restart sends nothing again"
node outbox retry all || fail "retry all"
[ "$(node outbox list --json | python3 -c 'import json,sys; print(sum(r["state"] == "queued" for r in json.load(sys.stdin)))')" -ge 1 ] \
    || fail "retry did not requeue the dead items"
stop_node
node outbox purge | grep -q "removed" || fail "purge"
[ "$(node outbox list --json | python3 -c 'import json,sys; print(sum(r["state"] == "sent" for r in json.load(sys.stdin)))')" = 0 ] \
    || fail "purge left sent items"
ok "outbox list, retry and purge"
kill "$scp_pid" 2>/dev/null; wait "$scp_pid" 2>/dev/null || true
