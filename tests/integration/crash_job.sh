#!/bin/bash
# kill -9 during a reconstruction: storescu sends philips-phantom-140 to a
# de-identifying node; the moment its job starts the daemon is killed.  After
# the restart the job runs again (the log says so) and storescp, standing in
# for the sender's port, receives every derived object exactly once.  A
# series still settling when the daemon is killed is reconstructed after
# the restart (the index is the persistent record of pending series).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp
need_shared
need_pydicom
series=$SHARED/data/ct/philips-phantom-140
start_receiver recv SENDER
ANONYMIZE=yes write_conf "" "[reconstruct]\\nsettle_seconds = 1\\nrender_size = 256\\n[peer sender]\\nae_title = SENDER\\nhost = 127.0.0.1\\nport = $RECV_PORT"
start_node
storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$series"/* || fail "storescu"
for _ in $(seq 600); do
    grep -q 'job 1 started' "$WORK/node.log" && break
    sleep 0.02
done
grep -q 'job 1 started' "$WORK/node.log" || fail "no job started"
kill -9 "$NODE_PID"
wait "$NODE_PID" 2>/dev/null || true
NODE_PID=
grep -q 'job 1 done' "$WORK/node.log" && fail "the job ended before the kill; the test proves nothing"
ok "isonoded killed while job 1 was running"
start_node
wait_jobs_done 1 60 || fail "job 1 not done after the restart"
grep -q 'job(s) interrupted by the last stop run again' "$WORK/node.log" || fail "no recovery logged"
n=$(node jobs list --json | python3 -c '
import json, re, sys
j = json.load(sys.stdin)[0]
assert j["state"] == "done" and j["attempts"] == 2, j
print(re.search(r"(\d+) objects", j["result"]).group(1))')
[ -n "$n" ] && [ "$n" -ge 5 ] || fail "job result: $(node jobs list)"
wait_received recv "$n" 60 || fail "the receiver got $(received recv) of $n objects"
sleep 2
got=$(received recv)
[ "$got" = "$n" ] || fail "the receiver got $got C-STOREs for $n objects"
$PY - "$WORK/recv" "$n" <<'PY' || fail "received objects"
import glob, sys, pydicom
ds = [pydicom.dcmread(f, stop_before_pixels=True) for f in glob.glob(sys.argv[1] + "/*")]
assert len({d.SOPInstanceUID for d in ds}) == int(sys.argv[2]) == len(ds)
assert not any(d.PatientID.startswith("ANON") for d in ds)
print("%d objects, each once, with the original identity" % len(ds))
PY
ok "after kill -9 during the reconstruction and a restart, each result arrived exactly once"

# a crash before a series settled: the restart finds it in the index
stop_node
sed -i 's/^settle_seconds = 1/settle_seconds = 600/' "$CONF"
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/late" || fail "phantom"
start_node
storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/late"/*.dcm || fail "storescu"
kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true; NODE_PID=
[ "$(node jobs list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] \
    || fail "a job for the unsettled series exists already"
sed -i 's/^settle_seconds = 600/settle_seconds = 1/' "$CONF"
start_node
wait_jobs_done 2 60 || fail "the series pending at the crash got no job: $(node jobs list)"
grep -q 'stored series without a job since the last run' "$WORK/node.log" || fail "not logged"
n2=$(node jobs list --json | python3 -c '
import json, re, sys
j = json.load(sys.stdin)[1]
assert j["state"] == "done" and j["instances"] > 1, j
print(re.search(r"(\d+) objects", j["result"]).group(1))') || fail "job 2: $(node jobs list)"
wait_received recv $((n + n2)) 60 || fail "results of the pending series: $(received recv) of $((n + n2))"
ok "a series still settling at kill -9 is found in the index at the restart and reconstructed"
stop_node
kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
