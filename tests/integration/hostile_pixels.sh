#!/bin/bash
# Pixel data that lies, through the whole daemon: a JPEG 2000 series whose
# slices carry a Basic Offset Table of {0, 10} (two frames announced, one
# frame in the object, no Number of Frames) and one whose table points far
# past the end of its fragments.  Both are accepted at ingest (their data
# sets are well-formed), then the reconstruction job must refuse them (done,
# not reconstructed -- a retry cannot help) with a reason naming the offset
# table, without crashing and without results.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu echoscu
need_pydicom
for variant in two-entries past-end; do
    $PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/$variant" > /dev/null || fail "phantom"
done
$PY - "$WORK" <<'PY' || fail "making the lying JPEG 2000 series"
import glob, os, struct, sys
import pydicom
from pydicom.uid import generate_uid

def item(payload):
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(payload)) + payload

# A fragment that starts like a JPEG 2000 codestream (SOC, SIZ) and is not
# one: the offset table must be refused before any decoder sees it.
fragment = b"\xff\x4f\xff\x51" + bytes(96)
tables = {"two-entries": (struct.pack("<II", 0, 10), [fragment, fragment]),
          "past-end": (struct.pack("<II", 0, 0x7FFFFFF0), [fragment, fragment, fragment])}
for variant, (bot, frags) in tables.items():
    series = generate_uid()
    for f in sorted(glob.glob(os.path.join(sys.argv[1], variant, "*.dcm"))):
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = series
        if "NumberOfFrames" in ds:
            del ds.NumberOfFrames
        # pydicom writes the Sequence Delimitation Item of an undefined length itself
        value = item(bot) + b"".join(item(fr) for fr in frags)
        ds.PixelData = value
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(f, write_like_original=False)
PY
write_conf "" "[reconstruct]\\nsettle_seconds = 1\\nmax_attempts = 1\\nrender = no\\n[surface ball]\\nmodality = CT\\niso = 500"
start_node
cfg=$(storescu_all_ts_cfg)
for variant in two-entries past-end; do
    storescu -xf "$cfg" AllTS -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/$variant"/*.dcm \
        > "$WORK/scu-$variant.log" 2>&1 || fail "storescu $variant: $(tail -3 "$WORK/scu-$variant.log")"
done
n=$(ls "$WORK/two-entries" | wc -l)
[ "$(count instances)" = $((2 * n)) ] || fail "stored $(count instances) of $((2 * n)) lying objects"
wait_jobs_done 2 60 || fail "the jobs did not end: $(node jobs list)"
kill -0 "$NODE_PID" 2>/dev/null || fail "isonoded died"
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "no C-ECHO after the jobs"
node jobs list --json > "$WORK/jobs.json"
python3 - "$WORK/jobs.json" <<'PY' || fail "jobs: $(cat "$WORK/jobs.json")"
import json, sys
jobs = json.load(open(sys.argv[1]))
assert len(jobs) == 2, jobs
for j in jobs:
    text = json.dumps(j)
    # refused (what the objects are does not change on a retry), not failed
    assert j["state"] == "done" and "not reconstructed" in text and "offset table" in text, j
    print("job %s: %s" % (j["id"], j.get("result") or text))
PY
grep -q 'offset table' "$WORK/node.log" || fail "no log line names the offset table"
[ -z "$(find "$DATA" -name '*.stl' 2>/dev/null)" ] || fail "results were made from lying pixel data"
ok "lying JPEG 2000 offset tables ({0,10} with one frame; an offset past the end): stored, jobs refused naming the offset table, daemon up"
stop_node
