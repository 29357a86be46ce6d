#!/bin/bash
# Routing rules with real peers: a forwarding rule sends CT originals to one
# peer and de-identified copies to another, an MR series matches an ignore
# rule and goes nowhere; the job list names the rule and the outcome.  Run
# twice: on a store that keeps what it receives (copies are de-identified
# when forwarded) and on a de-identifying store that keeps originals.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/ct" || fail "phantom ct"
$PY "$top_srcdir/tests/lib/phantom.py" write sphere scaled "$WORK/mr" || fail "phantom mr"
n=$(ls "$WORK/ct" | wc -l)
for mode in keep-received de-identify; do
    rm -rf "$DATA" "$WORK/orig" "$WORK/anon" "$WORK"/orig.log "$WORK"/anon.log
    start_receiver orig PACS; po=$RECV_PORT; ro=$RECV_PID
    start_receiver anon RESEARCH; pr=$RECV_PORT; rr=$RECV_PID
    if [ "$mode" = keep-received ]; then an="no"; else an="yes\\nkeep_originals = yes"; fi
    write_conf "" "[reconstruct]\\nsettle_seconds = 1\\n[peer pacs]\\nae_title = PACS\\nhost = 127.0.0.1\\nport = $po\\n[peer research]\\nae_title = RESEARCH\\nhost = 127.0.0.1\\nport = $pr\\n[route mr]\\nmodality = MR\\nignore = yes\\n[route ct]\\nmodality = CT\\nreconstruct = no\\nforward_to = pacs\\nforward_anonymized_to = research"
    sed -i "s/^enabled = .*/enabled = $an/" "$CONF"
    start_node
    storescu -aet MOD1 -aec ISONODE 127.0.0.1 "$PORT" "$WORK/ct"/*.dcm "$WORK/mr"/*.dcm || fail "storescu"
    wait_received orig "$n" 60 || fail "$mode: PACS got $(received orig) of $n"
    wait_received anon "$n" 60 || fail "$mode: RESEARCH got $(received anon) of $n"
    wait_jobs_done 2 30 || fail "$mode: jobs $(node jobs list)"
    sleep 1
    [ "$(received orig)" = "$n" ] && [ "$(received anon)" = "$n" ] || fail "$mode: $(received orig) and $(received anon) objects, want $n each"
    $PY - "$WORK/ct" "$WORK/orig" "$WORK/anon" <<'PY' || fail "$mode: forwarded objects"
import glob, sys, pydicom
def load(d):
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in glob.glob(d + "/*")]
src, orig, anon = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
assert {d.SOPInstanceUID for d in orig} == {d.SOPInstanceUID for d in src}
assert all(d.PatientID == src[0].PatientID and d.Modality == "CT" for d in orig)
assert not ({d.SOPInstanceUID for d in anon} & {d.SOPInstanceUID for d in src})
assert all(d.PatientID.startswith("ANON") and d.PatientIdentityRemoved == "YES" for d in anon)
assert all(d.StudyInstanceUID != src[0].StudyInstanceUID for d in anon)
print("PACS: %d originals; RESEARCH: %d de-identified copies" % (len(orig), len(anon)))
PY
    node jobs list --json > "$WORK/jobs.json"
    python3 - "$WORK/jobs.json" <<'PY' || fail "$mode: jobs $(cat "$WORK/jobs.json")"
import json, sys
jobs = {j["route"]: j for j in json.load(open(sys.argv[1]))}
assert set(jobs) == {"route ct", "route mr"}, jobs
assert jobs["route ct"]["result"].startswith("stored, not reconstructed") and "forwarded" in jobs["route ct"]["result"]
assert jobs["route mr"]["result"] == "stored, ignored (route mr)", jobs["route mr"]
print("jobs:", [(r, j["result"]) for r, j in sorted(jobs.items())])
PY
    ok "$mode: CT originals to one peer, de-identified copies to another, MR ignored"
    stop_node
    kill "$ro" "$rr" 2>/dev/null; wait "$ro" "$rr" 2>/dev/null || true
done
