#!/bin/bash
# Results belong to the sender of the series: they go back only to the one
# calling AE that sent every instance.  Peer B adding an instance to peer
# A's series must not receive A's re-identified results (nor trigger a
# second delivery to A); the job says why the return was withheld.  And the
# identity restored is the series' own: a later study of the same Patient
# ID under a corrected name comes back under that name.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" > /dev/null || fail "phantom"
last=$(ls "$WORK/src"/*.dcm | tail -1)
mkdir -p "$WORK/first"
for f in "$WORK/src"/*.dcm; do [ "$f" = "$last" ] || ln -s "$f" "$WORK/first/"; done
start_receiver a MODA; a_port=$RECV_PORT; a_pid=$RECV_PID
start_receiver b MODB; b_port=$RECV_PORT; b_pid=$RECV_PID
ANONYMIZE=yes write_conf "" "[reconstruct]\\nsettle_seconds = 1\\nrender = no\\n[surface ball]\\nmodality = CT\\niso = 500\\n[peer a]\\nae_title = MODA\\nhost = 127.0.0.1\\nport = $a_port\\n[peer b]\\nae_title = MODB\\nhost = 127.0.0.1\\nport = $b_port"
start_node
storescu -aet MODA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/first"/*.dcm || fail "storescu A"
wait_jobs_done 1 60 || fail "job 1: $(node jobs list)"
wait_received a 1 30 || fail "A got nothing back"
sleep 2
n_a=$(received a)
[ "$n_a" -ge 1 ] || fail "A got $n_a results"
ok "the series' only sender (MODA) gets its $n_a results"

storescu -aet MODB -aec ISONODE 127.0.0.1 "$PORT" "$last" || fail "storescu B"
wait_jobs_done 2 60 || fail "job 2: $(node jobs list)"
sleep 3
[ "$(received b)" = 0 ] || fail "MODB, which sent one instance of MODA's series, got $(received b) results"
[ "$(received a)" = "$n_a" ] || fail "a mixed series was returned to MODA again ($(received a) objects)"
node jobs list --json > "$WORK/jobs.json"
python3 - "$WORK/jobs.json" <<'PY' || fail "job 2: $(cat "$WORK/jobs.json")"
import json, sys
jobs = sorted(json.load(open(sys.argv[1])), key=lambda j: j["id"])
text = json.dumps(jobs[-1])
assert "return withheld" in text and "MODA 48, MODB 1 of 49" in text, text
print("job %s: %s" % (jobs[-1]["id"], jobs[-1].get("result")))
PY
grep -q 'results not returned: series .* came from 2 calling AEs (MODA 48, MODB 1 of 49) and MODB did not send every instance' "$WORK/node.log" || fail "no log line"
ok "a series fed by two calling AEs: nothing returned to either, the job says why"
# the identity restored is the one this series' instances carried, not the
# first ever seen for the Patient ID: a second study of PHANTOM, whose name
# has been corrected, comes back under the corrected name
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/second" > /dev/null || fail "phantom 2"
dcmodify -nb -m "PatientName=Corrected^Name" "$WORK/second"/*.dcm > /dev/null 2>&1 || fail "dcmodify"
before=$(received a)
storescu -aet MODA -aec ISONODE 127.0.0.1 "$PORT" "$WORK/second"/*.dcm || fail "storescu A, second study"
wait_jobs_done 3 60 || fail "job 3: $(node jobs list)"
wait_received a $((before + 1)) 30 || fail "A got nothing for its second study"
sleep 2
$PY - "$WORK/a" "$WORK/second" <<'PY' || fail "the second study's results carry the wrong name"
import glob, sys
import pydicom
study2 = pydicom.dcmread(sorted(glob.glob(sys.argv[2] + "/*.dcm"))[0]).StudyInstanceUID
names = {}
for f in glob.glob(sys.argv[1] + "/*"):
    d = pydicom.dcmread(f, stop_before_pixels=True)
    names.setdefault(d.StudyInstanceUID == study2, set()).add(str(d.PatientName))
assert names.get(True) == {"Corrected^Name"}, names
assert names.get(False) == {"Phantom^Analytic"}, names
print("first study: %s; second study: %s" % (names[False], names[True]))
PY
ok "each series' results carry the identity its own instances carried"
stop_node
kill "$a_pid" "$b_pid" 2>/dev/null; wait "$a_pid" "$b_pid" 2>/dev/null || true
