#!/bin/bash
# A series sent again gets its results again, but only for a peer entitled
# to them (one that sent every instance):
#   1. MODA sends a series and gets its results;
#   2. MODA sends it again (every instance a kept duplicate): a re-send job
#      returns the same results again -- same UIDs, the same bytes;
#   3. MODB sends the whole series too: MODB gets the same results;
#   4. MODC sends one instance of it: nothing goes to anyone, the job says why;
#   5. MODA sends it again with one instance changed (duplicates = replace):
#      a new version, reconstructed, under new UIDs.
# Today's node acknowledged 2-5 and did nothing: no job, nothing returned.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp dcmodify
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" > /dev/null || fail "phantom"
n_src=$(ls "$WORK/src"/*.dcm | wc -l)
one=$(ls "$WORK/src"/*.dcm | head -1)
start_receiver a MODA; a_port=$RECV_PORT; a_pid=$RECV_PID
start_receiver b MODB; b_port=$RECV_PORT; b_pid=$RECV_PID
start_receiver c MODC; c_port=$RECV_PORT; c_pid=$RECV_PID
peers=""
for p in a:MODA:$a_port b:MODB:$b_port c:MODC:$c_port; do
    IFS=: read -r name ae port <<< "$p"
    peers="$peers\\n[peer $name]\\nae_title = $ae\\nhost = 127.0.0.1\\nport = $port"
done
ANONYMIZE=yes write_conf "duplicates = replace" "[reconstruct]\\nsettle_seconds = 1\\nrender = no\\n[surface ball]\\nmodality = CT\\niso = 500$peers"
start_node

# job_field ID FIELD: a field of one job from isonode jobs list --json.
job_field() {
    node jobs list --json | python3 -c '
import json, sys
for j in json.load(sys.stdin):
    if j["id"] == int(sys.argv[1]):
        print(j[sys.argv[2]])' "$1" "$2"
}

# same_objects DIR1 DIR2: the same file names (SOP Instance UIDs), byte for byte.
same_objects() {
    [ "$(ls "$1")" = "$(ls "$2")" ] || { echo "names differ: $(ls "$1" | tr '\n' ' ') / $(ls "$2" | tr '\n' ' ')"; return 1; }
    for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || { echo "$(basename "$f") differs"; return 1; }; done
}

# 1. the first delivery
storescu -aet MODA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "storescu A"
wait_jobs_done 1 60 || fail "job 1: $(node jobs list)"
wait_received a 1 30 || fail "A got nothing back"
sleep 2
n=$(received a)
[ "$n" -ge 1 ] || fail "A got $n results"
mkdir "$WORK/first" && mv "$WORK/a"/* "$WORK/first/"
ok "MODA sent $n_src instances and got $n results (job 1: $(job_field 1 result))"

# 2. MODA sends the same series again: every instance is a kept duplicate
storescu -aet MODA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "storescu A again"
wait_jobs_done 2 60 || fail "no job for the re-sent series: $(node jobs list)"
wait_received a $((2 * n)) 30 || fail "MODA re-sent its series and got $(( $(received a) - n )) of $n results again"
[ "$(job_field 2 kind)" = resend ] || fail "job 2 is $(job_field 2 kind)"
[ "$(job_field 2 version)" = "$(job_field 1 version)" ] || fail "an unchanged series made another version"
msg=$(same_objects "$WORK/first" "$WORK/a") || fail "the re-delivered results are not the first ones: $msg"
grep -q "job 2 queued: .* from MODA, $n_src instances (sent again)" "$WORK/node.log" || fail "no log line for the re-send"
ok "MODA sent it again: the same $n results again, same UIDs and bytes (job 2: $(job_field 2 result))"

# 3. another peer sends the whole series: it sent every instance, it gets them
storescu -aet MODB -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "storescu B"
wait_jobs_done 3 60 || fail "no job for MODB's re-send: $(node jobs list)"
wait_received b "$n" 30 || fail "MODB, which sent every instance, got $(received b) of $n results"
msg=$(same_objects "$WORK/first" "$WORK/b") || fail "MODB's results differ from MODA's: $msg"
ok "MODB sent the whole series: it gets the same $n results"

# 4. a peer that sends one instance of it gets nothing; nobody else does either
storescu -aet MODC -aec ISONODE 127.0.0.1 "$PORT" "$one" || fail "storescu C"
wait_jobs_done 4 60 || fail "job 4: $(node jobs list)"
sleep 3
[ "$(received c)" = 0 ] || fail "MODC, which sent one instance, got $(received c) results"
[ "$(received a)" = $((2 * n)) ] && [ "$(received b)" = "$n" ] || fail "MODC's instance sent results elsewhere: A $(received a), B $(received b)"
job_field 4 result | grep -q "re-sent by MODC, which did not send every instance (MODA $n_src, MODB $n_src, MODC 1 of $n_src): nothing returned" ||
    fail "job 4 says: $(job_field 4 result)"
ok "MODC sent one instance: nothing returned to anyone (job 4: $(job_field 4 result))"

# 5. MODA sends the series again with one instance changed: a new version
mkdir "$WORK/changed" && cp "$WORK/src"/*.dcm "$WORK/changed/"
dcmodify -nb -i "(0028,1050)=77" "$WORK/changed/$(basename "$one")" > /dev/null 2>&1 || fail "dcmodify"
rm -f "$WORK/a"/*
storescu -aet MODA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/changed"/*.dcm || fail "storescu A, changed"
wait_jobs_done 5 60 || fail "job 5: $(node jobs list)"
wait_received a $((3 * n)) 30 || fail "MODA sent a changed series and got $(( $(received a) - 2 * n )) of $n results"
sleep 1
[ "$(job_field 5 version)" != "$(job_field 1 version)" ] || fail "a changed series kept its version"
job_field 5 result | grep -q "sent again with changed content: reconstructed" || fail "job 5 says: $(job_field 5 result)"
common=$(comm -12 <(ls "$WORK/first") <(ls "$WORK/a") | wc -l)
[ "$common" = 0 ] || fail "the new version reuses $common UIDs of the first"
[ "$(ls "$WORK/a" | wc -l)" = "$n" ] || fail "new version: $(ls "$WORK/a" | wc -l) objects"
[ "$(received b)" = "$n" ] && [ "$(received c)" = 0 ] || fail "MODA's new version went elsewhere: B $(received b), C $(received c)"
ok "a changed series: reconstructed as a new version with new UIDs, to MODA alone (job 5: $(job_field 5 result))"
stop_node
kill "$a_pid" "$b_pid" "$c_pid" 2>/dev/null; wait "$a_pid" "$b_pid" "$c_pid" 2>/dev/null || true
