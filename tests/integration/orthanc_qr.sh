#!/bin/bash
# Orthanc 1.10 as the querying and retrieving side (issue 14): Orthanc asks
# the node with C-FIND (/modalities/isonode/query, Study Root STUDY and
# SERIES) and gets what the node stored; it retrieves the study with C-MOVE
# to itself (/queries/ID/retrieve), and the objects land in Orthanc as the
# node stored them (same SOP Instance UIDs, same pixel data).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/orthanc.sh"
need Orthanc curl storescu dcmdump
need_shared
HP=$(free_port); DP=$(free_port)
write_conf "check_calling_ae = yes" "[reconstruct]
settle_seconds = 86400
[peer orthanc]
ae_title = ORTHANC
host = 127.0.0.1
port = $DP
query = yes
retrieve = yes
[peer sender]
ae_title = STORESCU
host = 127.0.0.1
port = 104
[peer echoscu]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104"
orthanc_json() {
    cat > "$WORK/orthanc.json" <<J
{ "Name": "isonode-qr-test", "StorageDirectory": "$WORK/orthanc", "IndexDirectory": "$WORK/orthanc",
  "DicomAet": "ORTHANC", "DicomPort": $DP, "HttpPort": $HP, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "Plugins": [],
  "DicomModalities": { "isonode": [ "ISONODE", "127.0.0.1", $PORT ] } }
J
}
start_orthanc orthanc_json
start_node
CT_DIR="$SHARED/data/ct/ge-tilt-28"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$CT_DIR"/* || fail "storescu"
first=$(ls "$CT_DIR"/* | head -1)
study=$(dcmdump -s +P 0020,000D "$first" | sed -n 's/.*\[\(.*\)\].*/\1/p')
ct_n=$(ls "$CT_DIR" | wc -l)

curl -sf -X POST "$api/modalities/isonode/query" \
    -d '{"Level": "Study", "Query": {"StudyInstanceUID": "", "ModalitiesInStudy": "CT", "NumberOfStudyRelatedInstances": ""}}' \
    > "$WORK/query.json" || fail "Orthanc's C-FIND: $(tail -3 "$WORK/orthanc.log")"
qid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ID"])' "$WORK/query.json")
curl -sf "$api/queries/$qid/answers?expand" > "$WORK/answers.json" || fail "answers"
python3 - "$WORK/answers.json" "$study" "$ct_n" <<'PY' || fail "Orthanc's view of the answers"
import json, sys
a = json.load(open(sys.argv[1]))
assert len(a) == 1, a
tags = {v["Name"]: v["Value"] for v in a[0].values() if isinstance(v, dict) and "Name" in v}
assert tags["StudyInstanceUID"] == sys.argv[2], tags
assert tags["NumberOfStudyRelatedInstances"].strip() == sys.argv[3], tags
assert tags["ModalitiesInStudy"] == "CT", tags
PY
grep -q "C-FIND Study Root STUDY from ORTHANC: 1 match(es)" "$WORK/node.log" || fail "no C-FIND line"
ok "Orthanc's C-FIND finds the stored study with its counts and modalities"

curl -sf -X POST "$api/queries/$qid/retrieve" -d '{"TargetAet": "ORTHANC", "Synchronous": true}' > "$WORK/retrieve.json" ||
    fail "Orthanc's C-MOVE: $(tail -5 "$WORK/orthanc.log")"
for _ in $(seq 100); do
    n=$(curl -sf "$api/instances" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$n" = "$ct_n" ] && break
    sleep 0.2
done
[ "$n" = "$ct_n" ] || fail "Orthanc holds $n of $ct_n after the retrieve"
curl -sf "$api/instances?expand" > "$WORK/instances.json"
python3 - "$WORK/instances.json" "$CT_DIR" <<'PY' || fail "retrieved instances differ from those stored"
import json, os, subprocess, sys
got = sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in json.load(open(sys.argv[1])))
def uid(p):
    out = subprocess.run(["dcmdump", "-s", "+P", "0008,0018", p], capture_output=True, text=True).stdout
    return out.split("[")[1].split("]")[0]
want = sorted(uid(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]))
assert got == want, (len(got), len(want))
PY
grep -q "C-MOVE STUDY from ORTHANC to ORTHANC: status 0x0000, $ct_n completed, 0 failed" "$WORK/node.log" ||
    fail "no C-MOVE line"
ok "Orthanc retrieves the study with C-MOVE to itself: $ct_n instances, the same SOP Instance UIDs"
stop_node
