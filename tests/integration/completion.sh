#!/bin/bash
# Series completion with real senders: two senders interleave two series,
# one of them sent in two associations with a pause shorter than
# settle_seconds; each series is reconstructed once, with all its
# instances, and each sender gets its own results.  A series whose images
# carry Images in Acquisition is started as soon as the last one arrives,
# without waiting for the (long) settle time.  A series the engine refuses
# is stored anyway, with the reason in the job list.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp dcmodify
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/a" || fail "phantom a"
$PY "$top_srcdir/tests/lib/phantom.py" write torus axial "$WORK/b" || fail "phantom b"
na=$(ls "$WORK/a" | wc -l); nb=$(ls "$WORK/b" | wc -l)
mkdir -p "$WORK/a1" "$WORK/a2"
i=0
for f in "$WORK/a"/*.dcm; do
    if [ $((i % 2)) = 0 ]; then ln -s "$f" "$WORK/a1/"; else ln -s "$f" "$WORK/a2/"; fi
    i=$((i + 1))
done
start_receiver ra SENDA; pa=$RECV_PORT; ra_pid=$RECV_PID
start_receiver rb SENDB; pb=$RECV_PORT; rb_pid=$RECV_PID
write_conf "" "[reconstruct]\\nsettle_seconds = 3\\nrender = no\\n[surface ball]\\nmodality = CT\\niso = 500\\n[peer a]\\nae_title = SENDA\\nhost = 127.0.0.1\\nport = $pa\\n[peer b]\\nae_title = SENDB\\nhost = 127.0.0.1\\nport = $pb"
start_node
# A's first half and all of B at the same time, then A's second half after a pause
storescu -aet SENDA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a1"/*.dcm > "$WORK/sa1.log" 2>&1 & sa=$!
storescu -aet SENDB -aec ISONODE 127.0.0.1 "$PORT" "$WORK/b"/*.dcm > "$WORK/sb.log" 2>&1 & sb=$!
wait "$sa" || fail "storescu A, first half"
sleep 1.5
storescu -aet SENDA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a2"/*.dcm || fail "storescu A, second half"
wait "$sb" || fail "storescu B"
wait_jobs_done 2 60 || fail "jobs: $(node jobs list)"
wait_received ra 3 30 || fail "sender A got $(received ra) objects"
wait_received rb 3 30 || fail "sender B got $(received rb) objects"
sleep 4 # long enough for a wrong second job to show up
node jobs list --json > "$WORK/jobs.json"
python3 - "$WORK/jobs.json" "$na" "$nb" <<'PY' || fail "jobs: $(cat "$WORK/jobs.json")"
import json, sys
jobs = json.load(open(sys.argv[1]))
got = sorted((j["calling_ae"], j["instances"], j["state"]) for j in jobs)
want = [("SENDA", int(sys.argv[2]), "done"), ("SENDB", int(sys.argv[3]), "done")]
assert got == want, got
assert all(j["result"].startswith("reconstructed") for j in jobs), jobs
print("one job per series, each with every instance:", got)
PY
[ "$(received ra)" = 3 ] && [ "$(received rb)" = 3 ] || fail "results: A $(received ra), B $(received rb), want 3 each"
ok "two interleaved series, one in two associations: each reconstructed once with all instances, results to their senders"

# a series the engine refuses: stored, the reason in the job list
word=$($PY "$top_srcdir/tests/lib/phantom.py" refuse localizer "$WORK/scout") || fail "phantom scout"
storescu -aet SENDA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/scout"/*.dcm || fail "storescu scout"
wait_jobs_done 3 30 || fail "no job for the localizer: $(node jobs list)"
node jobs list --json > "$WORK/jobs3.json"
python3 - "$WORK/jobs3.json" "$word" <<'PY' || fail "refused series: $(cat "$WORK/jobs3.json")"
import json, sys
j = json.load(open(sys.argv[1]))[-1]
assert j["state"] == "done" and j["result"].startswith("not reconstructed: ") and sys.argv[2] in j["result"], j
print("job %d: %s" % (j["id"], j["result"]))
PY
node ls series --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
assert any(r["Modality"] == "CT" and r["NumberOfSeriesRelatedInstances"] == 12 for r in rows), rows' \
    || fail "the refused series is not stored"
ok "a series the engine refuses is stored, and isonode jobs says why it was not reconstructed"

# Images in Acquisition: complete at the last image, not after settle_seconds
stop_node
sed -i 's/^settle_seconds = 3/settle_seconds = 120/' "$CONF"
$PY "$top_srcdir/tests/lib/phantom.py" write sphere oblique "$WORK/c" || fail "phantom c"
nc=$(ls "$WORK/c" | wc -l)
dcmodify -nb -i "(0020,1002)=$nc" "$WORK/c"/*.dcm > /dev/null || fail "dcmodify"
start_node
t0=$(date +%s)
storescu -aet SENDA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/c"/*.dcm || fail "storescu C"
wait_jobs_done 4 30 || fail "the series with Images in Acquisition was not started early: $(node jobs list)"
t1=$(date +%s)
[ $((t1 - t0)) -lt 60 ] || fail "took $((t1 - t0)) s"
ok "Images in Acquisition = $nc: the job ran $((t1 - t0)) s after the first C-STORE, settle_seconds = 120"
stop_node
kill "$ra_pid" "$rb_pid" 2>/dev/null; wait "$ra_pid" "$rb_pid" 2>/dev/null || true
