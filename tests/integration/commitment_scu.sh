#!/bin/bash
# Storage commitment, the node as SCU, with Orthanc 1.10 as the committer:
# a route forwards de-identified CT to [peer orthanc] with
# storage_commitment = yes.  The node asks Orthanc to commit each delivery
# (N-ACTION on an association of its own); Orthanc reports on a new
# association (N-EVENT-REPORT, the SCP role proposed), and the deliveries go
# from "awaiting" to "committed".  What Orthanc does not hold (a Lua hook
# deletes one instance as it arrives) is reported failed, sent and asked for
# again, and dead-lettered with the reason; a peer that cannot commit at all
# (DCMTK storescp) has its requests expire, with the same outcome; a kill -9
# while deliveries await their report loses nothing, and `outbox purge`
# removes nothing awaiting.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/orthanc.sh"
need Orthanc curl storescu storescp python3 sqlite3
need_shared
HP=$(free_port); DP=$(free_port); SP=$(free_port); CLOSED=$(free_port)
ANONYMIZE=yes write_conf "" "[reconstruct]
settle_seconds = 1
[outbox]
retry_base_seconds = 1
retry_max_seconds = 1
max_attempts = 2
commitment_timeout_seconds = 5
[peer orthanc]
ae_title = ORTHANC
host = 127.0.0.1
port = $DP
identity = anonymized
storage_commitment = yes
[peer archive]
ae_title = ARCHIVE
host = 127.0.0.1
port = $SP
identity = anonymized
storage_commitment = yes
[route ct]
modality = CT
reconstruct = no
forward_anonymized_to = orthanc
[route mr]
modality = MR
reconstruct = no
forward_anonymized_to = archive"
mkdir -p "$WORK/orthanc" "$WORK/archive"
# the hook deletes the third image of the 54-slice phantom as it arrives,
# so Orthanc has stored it (C-STORE success) but cannot commit it
cat > "$WORK/hook.lua" <<'L'
function OnStoredInstance(instanceId, tags, metadata, origin)
   if tags["InstanceNumber"] == "3" and tags["SeriesNumber"] == "201" then
      RestApiDelete("/instances/" .. instanceId)
   end
end
L
orthanc_json() {
    cat > "$WORK/orthanc.json" <<J
{ "Name": "isonode-scu-test", "StorageDirectory": "$WORK/orthanc", "IndexDirectory": "$WORK/orthanc",
  "DicomAet": "ORTHANC", "DicomPort": $DP, "HttpPort": $HP, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "Plugins": [], "LuaScripts": [ "$WORK/hook.lua" ],
  "DicomModalities": { "isonode": [ "ISONODE", "127.0.0.1", $PORT ] } }
J
}
start_orthanc orthanc_json
storescp --fork -aet ARCHIVE -od "$WORK/archive" "$SP" > "$WORK/storescp.log" 2>&1 &
STORESCP_PID=$!
trap 'kill $ORTHANC_PID $STORESCP_PID 2>/dev/null; cleanup' EXIT
start_node

# states DEST: "state count" lines of the outbox for one destination
states() { sqlite3 "$DATA/outbox.sqlite" "SELECT state || ' ' || count(*) FROM outbox WHERE dest = '$1' GROUP BY state ORDER BY state" | tr '\n' ',' ; }
# wait_states DEST EXPECTED [TENTHS]
wait_states() {
    for _ in $(seq "${3:-300}"); do [ "$(states "$1")" = "$2" ] && return 0; sleep 0.1; done
    fail "outbox for $1: $(states "$1"), expected $2"
}

CT_DIR="$SHARED/data/ct/ge-tilt-28"
ct_n=$(ls "$CT_DIR" | wc -l)
storescu -aec ISONODE 127.0.0.1 "$PORT" "$CT_DIR"/* || fail "storescu"
wait_states orthanc "committed $ct_n,"
n=$(curl -sf "$api/instances" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = "$ct_n" ] || fail "Orthanc holds $n instances"
[ "$(sqlite3 "$DATA/outbox.sqlite" "SELECT DISTINCT state FROM commit_requests")" = reported ] ||
    fail "requests: $(sqlite3 "$DATA/outbox.sqlite" "SELECT * FROM commit_requests")"
# one request per delivery association (a slow run may use more than one)
committed=$(sed -n 's/.*storage commitment: orthanc reports transaction .*: \([0-9]*\) object(s) committed, 0 failed.*/\1/p' "$WORK/node.log" |
    awk "{ s += \$1 } END { print s + 0 }")
[ "$committed" = "$ct_n" ] || fail "report lines count $committed objects committed"
node outbox | awk -F'\t' 'NR > 1 && $2 == "orthanc" && $3 != "committed" {bad = 1} END {exit bad}' ||
    fail "isonode outbox: $(node outbox | head -3)"
ok "$ct_n forwarded objects asked of Orthanc (N-ACTION), reported on Orthanc's own association, committed (isonode outbox shows it)"

# the phantom: one of its 54 images is gone from Orthanc when it is asked
P_DIR="$SHARED/data/ct/philips-phantom-54"
p_n=$(ls "$P_DIR" | wc -l)
storescu -aec ISONODE 127.0.0.1 "$PORT" "$P_DIR"/* || fail "storescu phantom"
wait_states orthanc "committed $((ct_n + p_n - 1)),dead 1," 400
why=$(sqlite3 "$DATA/outbox.sqlite" "SELECT attempts || ' ' || last_error FROM outbox WHERE state = 'dead'")
[ "$why" = "2 orthanc did not commit it: 0x0112 (no such object instance)" ] || fail "dead item: $why"
[ "$(grep -c "orthanc reports transaction .*: 0 object(s) committed, 1 failed" "$WORK/node.log")" = 1 ] ||
    fail "the failed object was not asked for again, alone"
node status | grep -q "^deliveries: .*dead 1" || fail "isonode status: $(node status | grep deliveries)"
ok "an object Orthanc could not commit (0x0112) was sent and asked for again, then dead-lettered with the reason after max_attempts; the other $((p_n - 1)) committed"

# a peer that accepts objects but no storage commitment (DCMTK storescp):
# each request fails, expires after commitment_timeout_seconds, the objects
# go again, and after max_attempts they are dead with the reason
MR_DIR="$SHARED/data/mr/siemens-t1-prone"
mr_n=$(ls "$MR_DIR" | wc -l)
storescu -aec ISONODE 127.0.0.1 "$PORT" "$MR_DIR"/* || fail "storescu MR"
wait_states archive "awaiting $mr_n," 300
wait_states archive "dead $mr_n," 300
sqlite3 "$DATA/outbox.sqlite" "SELECT DISTINCT last_error FROM outbox WHERE dest = 'archive'" |
    grep -q "^storage commitment not asked: ARCHIVE accepted no presentation context" ||
    fail "archive's reason: $(sqlite3 "$DATA/outbox.sqlite" "SELECT DISTINCT last_error FROM outbox WHERE dest = 'archive'")"
[ "$(sqlite3 "$DATA/outbox.sqlite" "SELECT group_concat(state) FROM (SELECT DISTINCT state FROM commit_requests WHERE dest = 'archive')")" = expired ] ||
    fail "archive's requests: $(sqlite3 "$DATA/outbox.sqlite" "SELECT * FROM commit_requests WHERE dest = 'archive'")"
ok "a peer that cannot commit: requests expire after commitment_timeout_seconds, the $mr_n objects were sent again, then dead-lettered with the reason"

# Orthanc cannot reach the node with its report (its modality entry points
# to a closed port): the deliveries await; kill -9; nothing is lost and
# purge removes nothing awaiting; once Orthanc can report, the request
# expires, the objects go again, and are committed
curl -sf -X PUT "$api/modalities/isonode" -d "{\"AET\": \"ISONODE\", \"Host\": \"127.0.0.1\", \"Port\": $CLOSED}" > /dev/null ||
    fail "cannot change Orthanc's modality"
# more attempts: on a slow machine a request may expire (5 s) before the
# kill, and the objects must not run out of attempts before Orthanc can report
stop_node
sed -i 's/^max_attempts = 2$/max_attempts = 6/' "$CONF"
start_node
B_DIR="$SHARED/data/ct/philips-phantom-140"
b_n=$(ls "$B_DIR" | wc -l)
before="committed $((ct_n + p_n - 1)),dead 1,"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$B_DIR"/* || fail "storescu phantom 140"
wait_states orthanc "awaiting $b_n,$before" 300
kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=
node outbox purge > /dev/null || fail "outbox purge"
[ "$(states orthanc)" = "awaiting $b_n," ] || fail "after kill -9 and purge: $(states orthanc)"
curl -sf -X PUT "$api/modalities/isonode" -d "{\"AET\": \"ISONODE\", \"Host\": \"127.0.0.1\", \"Port\": $PORT}" > /dev/null ||
    fail "cannot restore Orthanc's modality"
start_node
wait_states orthanc "committed $b_n," 300
# (one request per delivery association: a slow run may deliver them in more than one)
requeued=$(sed -n 's/.*storage commitment: request .* to orthanc expired, \([0-9]*\) object(s) queued again: no storage commitment report from orthanc within 5 s/\1/p' "$WORK/node.log" |
    awk "{ s += \$1 } END { print s + 0 }")
# (at least all of them: on a slow machine some expire and go again before the kill too)
[ "$requeued" -ge "$b_n" ] || fail "expiry lines count $requeued objects, fewer than $b_n"
ok "$b_n deliveries awaiting a report that could not come survived kill -9 and purge (which removed only the settled ones), then were sent and asked for again after the timeout, and committed"
stop_node
