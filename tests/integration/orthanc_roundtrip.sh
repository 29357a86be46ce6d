#!/bin/bash
# Orthanc as the PACS: a study uploaded to Orthanc (REST) is sent by Orthanc
# to isonode (POST /modalities/isonode/store); isonode de-identifies it,
# reconstructs it and returns the results, with the original identity, to
# Orthanc (its [peer], found by the calling AE).  The derived series appear
# in Orthanc under the same patient and in the same study (Orthanc's study ID
# is a hash of Patient ID and Study Instance UID, so a result with a wrong
# identity would make a new study).
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/orthanc.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need Orthanc curl
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" || fail "phantom"
HP=$(free_port); DP=$(free_port)
write_conf "" "[reconstruct]\\nsettle_seconds = 1\\n[surface ball]\\nmodality = CT\\niso = 500\\n[peer orthanc]\\nae_title = ORTHANC\\nhost = 127.0.0.1\\nport = $DP"
sed -i 's/^enabled = no/enabled = yes/' "$CONF"
orthanc_json() {
    cat > "$WORK/orthanc.json" <<J
{ "Name": "isonode-test", "StorageDirectory": "$WORK/orthanc", "IndexDirectory": "$WORK/orthanc",
  "DicomAet": "ORTHANC", "DicomPort": $DP, "HttpPort": $HP, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "OverwriteInstances": true, "Plugins": [],
  "DicomModalities": { "isonode": [ "ISONODE", "127.0.0.1", $PORT ] } }
J
}
start_orthanc orthanc_json
start_node
for f in "$WORK/src"/*.dcm; do
    curl -sf -X POST "$api/instances" --data-binary @"$f" > /dev/null || fail "upload $f to Orthanc"
done
study=$(curl -sf "$api/studies" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert len(s) == 1; print(s[0])') \
    || fail "Orthanc has no single study"
patient=$(curl -sf "$api/studies/$study" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ParentPatient"])')
curl -sf -X POST "$api/modalities/isonode/store" -d "$study" > "$WORK/store.json" \
    || fail "Orthanc could not send the study to isonode: $(tail -5 "$WORK/orthanc.log")"
for _ in $(seq 300); do
    n=$(curl -sf "$api/studies/$study" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Series"]))')
    [ "$n" -ge 6 ] && break
    sleep 0.2
done
curl -sf "$api/studies/$study" > "$WORK/study.json"
curl -sf "$api/patients" > "$WORK/patients.json"
curl -sf "$api/studies" > "$WORK/studies.json"
python3 - "$WORK/study.json" "$WORK/patients.json" "$WORK/studies.json" "$api" "$patient" <<'PY' || fail "Orthanc's view of the results"
import json, sys, urllib.request
study, patients, studies, api, patient = (json.load(open(sys.argv[1])), json.load(open(sys.argv[2])),
                                          json.load(open(sys.argv[3])), sys.argv[4], sys.argv[5])
assert patients == [patient], "results made another patient: %s" % patients
assert len(studies) == 1, "results made another study: %s" % studies
mods = []
for s in study["Series"]:
    info = json.load(urllib.request.urlopen("%s/series/%s" % (api, s)))
    mods.append((info["MainDicomTags"].get("Modality"), info["MainDicomTags"].get("SeriesDescription", ""),
                 len(info["Instances"])))
mods.sort()
print("Orthanc study:", mods)
assert [m[0] for m in mods] == ["CT", "M3D", "OT", "OT", "SEG", "SEG"], mods
PY
ok "Orthanc sent the study to isonode and got the derived series back in the same patient and study"
stop_node
kill "$ORTHANC_PID" 2>/dev/null; wait "$ORTHANC_PID" 2>/dev/null || true
