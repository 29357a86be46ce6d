#!/bin/bash
# Names in six character sets, through a de-identifying node and back to the
# sender: each result carries the sender's Patient's Name and Study
# Description exactly as written -- converted to UTF-8 where DCMTK can decode
# the set, else the original bytes under the original Specific Character Set
# (Debian's iconv cannot decode ISO 2022 IR 87) -- and never bytes under a
# set that does not describe them.  pydicom decodes every result under the
# set it declares and compares with what was sent; dciodvfy checks them.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp dciodvfy
need_pydicom
cases="jp kr cn ru l1 u8"
for c in $cases; do
    $PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/$c" > /dev/null || fail "phantom $c"
done
$PY - "$WORK" <<'PY' || fail "writing the names"
import glob, json, os, sys
import pydicom
from pydicom.uid import generate_uid
cases = {
    "jp": (["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada 山田 kontrolle"),
    "kr": (["", "ISO 2022 IR 149"], "Hong^Gildong=洪^吉洞=홍^길동", "Hong 홍길동"),
    "cn": ("GB18030", "Wang^XiaoDong=王^小东", "王小东 CT"),
    "ru": ("ISO_IR 144", "Иванов^Иван", "Контроль Иванов"),
    "l1": ("ISO_IR 100", "Müller^Jürgen", "Kontrolle Müller"),
    "u8": ("ISO_IR 192", "Παπαδόπουλος^Γιώργος", "Έλεγχος"),
}
want = {}
for c, (cs, name, desc) in cases.items():
    study = generate_uid()
    for f in glob.glob(os.path.join(sys.argv[1], c, "*.dcm")):
        ds = pydicom.dcmread(f)
        ds.SpecificCharacterSet = cs
        ds.PatientName, ds.PatientID, ds.StudyDescription = name, "CS-" + c.upper(), desc
        ds.StudyInstanceUID = study
        ds.save_as(f, write_like_original=False)
    want[ds.PatientID] = [name, desc]
json.dump(want, open(os.path.join(sys.argv[1], "want.json"), "w"))
PY
start_receiver recv SENDER
ANONYMIZE=yes write_conf "" "[reconstruct]\\nsettle_seconds = 1\\nrender = no\\n[surface ball]\\nmodality = CT\\niso = 500\\n[peer sender]\\nae_title = SENDER\\nhost = 127.0.0.1\\nport = $RECV_PORT"
start_node
for c in $cases; do
    storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/$c"/*.dcm || fail "storescu $c"
done
wait_jobs_done 6 120 || fail "jobs: $(node jobs list)"
wait_received recv 18 60 || fail "the sender got $(received recv) of 18 results"
for f in "$WORK/recv"/*; do
    errs=$(dciodvfy "$f" 2>&1 | grep '^Error' || true)
    [ -z "$errs" ] || fail "dciodvfy $(basename "$f"): $errs"
done
$PY - "$WORK/recv" "$WORK/want.json" <<'PY' || fail "names in the results"
import glob, json, sys
import pydicom
want = json.load(open(sys.argv[2]))
seen = {}
for f in glob.glob(sys.argv[1] + "/*"):
    d = pydicom.dcmread(f, stop_before_pixels=True)
    cs = d.SpecificCharacterSet
    name, desc = str(d.PatientName), str(d.get("StudyDescription", ""))
    w = want[d.PatientID]
    assert name == w[0], (d.PatientID, cs, name, w[0])
    assert desc == w[1], (d.PatientID, cs, desc, w[1])
    seen.setdefault(d.PatientID, set()).add(str(cs))
assert sorted(seen) == sorted(want), seen
for pid, sets in sorted(seen.items()):
    print("%s: %s under %s" % (pid, want[pid][0], "/".join(sorted(sets))))
PY
ok "six character sets: every result carries the sender's name and description as written, under a set that describes them"
stop_node
kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
