#!/bin/bash
# Unattended end to end with real peers: storescu (calling AE SENDER) sends a
# sphere phantom to a de-identifying node; once the series settles the node
# reconstructs it and DCMTK storescp, standing in for the sender's own
# receiving port ([peer sender]), receives the views, the rotation, the
# Surface Segmentation, the STL and the SEG.  dciodvfy passes on each;
# pydicom finds closed meshes enclosing the analytic volume within 1 % and
# the sender's original Patient ID, Study and Frame of Reference UIDs.  The
# store keeps a de-identified copy of the results, indexed.  A late instance
# makes a second version that replaces the first at the receiver (same
# series and instance UIDs), never a duplicate series.  A [route] also sends
# the results to a research peer with identity = anonymized: pseudonyms only.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp dciodvfy
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" || fail "phantom"
# hold back the slice farthest from the sphere: it arrives late
late=$($PY -c '
import glob, sys, pydicom
fs = glob.glob(sys.argv[1] + "/*.dcm")
print(max(fs, key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])))' "$WORK/src")
mkdir -p "$WORK/first"
for f in "$WORK/src"/*.dcm; do [ "$f" = "$late" ] || ln -s "$f" "$WORK/first/"; done
start_receiver research RESEARCH; research_port=$RECV_PORT; research_pid=$RECV_PID
start_receiver recv SENDER
ANONYMIZE=yes write_conf "" "[reconstruct]\\nsettle_seconds = 2\\n[surface ball]\\nmodality = CT\\niso = 500\\n[peer sender]\\nae_title = SENDER\\nhost = 127.0.0.1\\nport = $RECV_PORT\\n[peer research]\\nae_title = RESEARCH\\nhost = 127.0.0.1\\nport = $research_port\\nidentity = anonymized\\n[route ct]\\nmodality = CT\\nsend_results_to = research"
start_node
storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/first"/*.dcm || fail "storescu"
t0=$(date +%s.%N)
wait_received recv 7 60 || fail "the receiver got $(received recv) of 7 derived objects"
t1=$(date +%s.%N)
ok "7 derived objects at the sender's port $(python3 -c "print('%.2f' % ($t1 - $t0))") s after the last C-STORE (settle_seconds = 2)"
for f in "$WORK/recv"/*; do
    errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
    [ -z "$errs" ] || fail "dciodvfy $(basename "$f"): $errs"
done
ok "dciodvfy: no error in any received object"
$PY "$top_srcdir/tests/lib/check_results.py" "$WORK/recv" "$WORK/src" original || fail "results check"
wait_received research 7 30 || fail "the research peer got $(received research) of 7"
$PY "$top_srcdir/tests/lib/check_results.py" "$WORK/research" "$WORK/src" anonymized || fail "research copy"
ok "a peer with identity = anonymized gets the results under the pseudonym"
# no real date or time of the job in anything de-identified: the research
# copy and the store's copy take Content Date/Time from the de-identified
# study and carry no creation or series dates; the sender's copy may
wait_jobs_done 1 10 || fail "job not done"
$PY - "$WORK/research" "$DATA" "$WORK/recv" <<'PY' || fail "dates in the results"
import datetime, glob, sys
import pydicom
today = datetime.datetime.utcnow().strftime("%Y%m%d")
def check(files, where):
    n = 0
    for f in files:
        d = pydicom.dcmread(f, stop_before_pixels=True)
        if not str(d.get("SeriesDescription", "")).startswith("isonode"):
            continue
        n += 1
        for kw in ("InstanceCreationDate", "InstanceCreationTime", "SeriesDate", "SeriesTime"):
            assert kw not in d, (where, kw, d.get(kw))
        # dates = remove (the default): the study's dates are the E.1-1 dummy or empty
        assert d.ContentDate == (d.get("StudyDate") or "19000101"), (where, d.ContentDate, d.get("StudyDate"))
        assert d.ContentTime == (d.get("StudyTime") or "000000"), (where, d.ContentTime, d.get("StudyTime"))
        assert d.ContentDate != today, (where, "the job's date")
    assert n > 0, where
    return n
a = check(glob.glob(sys.argv[1] + "/*"), "research")
b = check(glob.glob(sys.argv[2] + "/objects/*/*/*.dcm"), "store")
back = [pydicom.dcmread(f, stop_before_pixels=True) for f in glob.glob(sys.argv[3] + "/*")]
assert all(d.InstanceCreationDate == today for d in back), "the sender's copy lost its creation date"
print("%d research and %d stored derived objects: dates from the de-identified study, none of the job's" % (a, b))
PY
for f in "$WORK/research"/*; do
    errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
    [ -z "$errs" ] || fail "dciodvfy research $(basename "$f"): $errs"
done
ok "de-identified results carry no date or time of the job (and dciodvfy passes on them)"
wait_jobs_done 1 10 || fail "job not done"
jobs_json > "$WORK/jobs1.json"
[ "$(json_get "$WORK/jobs1.json" 'len(r)')" = 1 ] || fail "$(cat "$WORK/jobs1.json")"
[ "$(json_get "$WORK/jobs1.json" '(r[0]["state"], r[0]["instances"], r[0]["route"])')" = "('done', 48, 'route ct')" ] \
    || fail "job: $(cat "$WORK/jobs1.json")"
node ls series --json > "$WORK/series.json"
python3 - "$WORK/series.json" <<'PY' || fail "the store's copy of the results"
import json, sys
rows = json.load(open(sys.argv[1]))
mods = sorted(r["Modality"] for r in rows)
assert mods == ["CT", "M3D", "OT", "OT", "SEG", "SEG"], mods
assert all(r["PatientID"].startswith("ANON") for r in rows), rows
print("store: the CT series and 5 derived series, all under the pseudonym")
PY
ok "the store keeps the results de-identified and indexed"
node verify > /dev/null || fail "verify after the results were stored"

# a late instance: version 2 is a new set of series with new UIDs (new
# content never comes under an old SOP Instance UID); a re-run of one
# version would give the same UIDs (derive_objects.sh, crash_job.sh)
storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$late" || fail "storescu late"
wait_received recv 14 60 || fail "the receiver got $(received recv) objects, want 14 after the late instance"
wait_jobs_done 2 10 || fail "second job not done"
jobs_json > "$WORK/jobs2.json"
[ "$(json_get "$WORK/jobs2.json" '[(j["state"], j["instances"]) for j in r]')" = "[('done', 48), ('done', 49)]" ] \
    || fail "jobs: $(cat "$WORK/jobs2.json")"
sleep 1
[ "$(received recv)" = 14 ] || fail "more than one resend: $(received recv)"
$PY - "$WORK/recv" <<'PY' || fail "second version"
import glob, sys, pydicom
ds = [pydicom.dcmread(f, stop_before_pixels=True) for f in glob.glob(sys.argv[1] + "/*")]
sops = {d.SOPInstanceUID for d in ds}
series = {d.SeriesInstanceUID for d in ds}
assert len(sops) == 14 and len(series) == 10, (len(sops), len(series))
# each version's references name the instances it was made from
refs = [{r.ReferencedSOPInstanceUID for r in d.SourceImageSequence}
        for d in ds if "SourceImageSequence" in d]
assert sorted({len(r) for r in refs}) == [48, 49], sorted({len(r) for r in refs})
print("14 objects received: 14 distinct instances in 10 series, version 1 from 48 images, version 2 from 49")
PY
ok "a late instance makes a new version under new UIDs, each delivered once"
node status > "$WORK/status.txt"
grep -q '^jobs: *done 2$' "$WORK/status.txt" && grep -q '^deliveries: *sent 28$' "$WORK/status.txt" \
    || fail "status: $(cat "$WORK/status.txt")"
stop_node
# job result directories go once nothing waits for them (and they are an hour old)
[ "$(ls "$DATA/results" | wc -l)" = 2 ] || fail "results: $(ls "$DATA/results")"
node outbox purge | grep -q '0 job result directories' || fail "purge removed young results"
touch -d '2 hours ago' "$DATA/results"/J*
node outbox purge | grep -q '2 job result directories' || fail "purge kept old results"
[ -z "$(ls "$DATA/results")" ] || fail "results left: $(ls "$DATA/results")"
node verify > /dev/null || fail "verify after purge: the store does not depend on results/"
ok "outbox purge removes job result directories nothing waits for"
kill "$RECV_PID" "$research_pid" 2>/dev/null; wait "$RECV_PID" "$research_pid" 2>/dev/null || true
