#!/bin/bash
# A job that fails is retried, then dead-lettered, with the reason in
# isonode jobs; the operator's retry runs it again once the cause is gone,
# and the results then arrive once.  The cause here: the job cannot create
# its results directory (a plain file stands where it should be).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" || fail "phantom"
start_receiver recv SENDER
write_conf "" "[reconstruct]\\nsettle_seconds = 1\\nmax_attempts = 1\\nrender = no\\n[surface ball]\\nmodality = CT\\niso = 500\\n[peer sender]\\nae_title = SENDER\\nhost = 127.0.0.1\\nport = $RECV_PORT"
mkdir -p "$DATA"
echo "not a directory" > "$DATA/results"
start_node
storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "storescu"
wait_jobs_done 1 30 || fail "the job did not end: $(node jobs list)"
node jobs list --json > "$WORK/jobs.json"
python3 - "$WORK/jobs.json" <<'PY' || fail "failed job: $(cat "$WORK/jobs.json")"
import json, sys
j = json.load(open(sys.argv[1]))[0]
assert j["state"] == "dead" and j["attempts"] == 1 and j["reason"], j
print("job 1: dead after 1 attempt: %s" % j["reason"])
PY
grep -q 'job 1 failed (attempt 1 of 1)' "$WORK/node.log" || fail "failure not logged"
[ "$(received recv)" = 0 ] || fail "results sent by a failed job"
ok "a failing job is dead-lettered after max_attempts with its reason, and sends nothing"
rm "$DATA/results"
node jobs retry 1 || fail "jobs retry"
wait_jobs_done 1 30 || fail "the retried job did not end"
[ "$(node jobs list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])')" = done ] \
    || fail "retry: $(node jobs list)"
wait_received recv 3 30 || fail "the receiver got $(received recv) of 3 results"
sleep 1
[ "$(received recv)" = 3 ] || fail "results sent $(received recv) times"
ok "after the cause is gone, isonode jobs retry runs it again and the results arrive once"
node jobs cancel 1 2>/dev/null && fail "a done job was cancelled"
stop_node
kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
