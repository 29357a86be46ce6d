#!/bin/bash
# Storage commitment, the node as SCP, with Orthanc 1.10 as the requester
# (POST /modalities/isonode/storage-commitment): the node de-identifies what
# it stores, so it maps the UIDs Orthanc names through its own mapping and
# commits what it stored for them; a UID it never received is reported as
# failed (0x0112).  The report goes to Orthanc's [peer] on an association of
# the node's own.  A report that cannot go (the peer's port is wrong) is
# retried, survives a kill -9, and arrives once after the restart.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/orthanc.sh"
need Orthanc curl storescu dcmdump python3 sqlite3
need_shared
HP=$(free_port); DP=$(free_port); CLOSED=$(free_port)
ANONYMIZE=yes write_conf "" "[reconstruct]
settle_seconds = 86400
[outbox]
retry_base_seconds = 1
retry_max_seconds = 1
[peer orthanc]
ae_title = ORTHANC
host = 127.0.0.1
port = $DP"
orthanc_json() {
    cat > "$WORK/orthanc.json" <<J
{ "Name": "isonode-sc-test", "StorageDirectory": "$WORK/orthanc", "IndexDirectory": "$WORK/orthanc",
  "DicomAet": "ORTHANC", "DicomPort": $DP, "HttpPort": $HP, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "Plugins": [],
  "DicomModalities": { "isonode": [ "ISONODE", "127.0.0.1", $PORT ] } }
J
}
start_orthanc orthanc_json
start_node
CT_DIR="$SHARED/data/ct/ge-tilt-28"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$CT_DIR"/* || fail "storescu"
ct_n=$(ls "$CT_DIR" | wc -l)
CT=1.2.840.10008.5.1.4.1.1.2
uids=$(for f in "$CT_DIR"/*; do dcmdump -s +P 0008,0018 "$f" | sed -n 's/.*\[\(.*\)\].*/\1/p'; done)
body() { # EXTRA_UID...: the request naming every stored instance and the extras
    python3 - "$CT" "$@" <<PY
import json, sys
cls = sys.argv[1]
uids = """$uids""".split() + sys.argv[2:]
print(json.dumps({"DicomInstances": [[cls, u] for u in uids], "Timeout": 30}))
PY
}
# commit ID: waits for Orthanc's view of the transaction, prints it
commit_state() {
    for _ in $(seq "${2:-100}"); do
        curl -sf "$api/storage-commitment/$1" > "$WORK/sc.json" || return 1
        python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["Status"] == "Pending")' \
            "$WORK/sc.json" && return 0
        sleep 0.1
    done
    return 1
}
id=$(curl -sf -X POST "$api/modalities/isonode/storage-commitment" -d "$(body 1.2.3.4.999)" |
     python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])') || fail "Orthanc's N-ACTION"
commit_state "$id" || fail "no report: $(tail -5 "$WORK/node.log")"
python3 - "$WORK/sc.json" "$ct_n" <<'PY' || fail "Orthanc's view of the report: $(cat "$WORK/sc.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["Status"] == "Failure", r["Status"]
assert len(r["Success"]) == int(sys.argv[2]), len(r["Success"])
assert [f["SOPInstanceUID"] for f in r["Failures"]] == ["1.2.3.4.999"], r["Failures"]
assert r["Failures"][0]["FailureReason"] == 0x0112, r["Failures"]
PY
grep -q "storage commitment $id reported to orthanc: $ct_n committed, 1 failed" "$WORK/node.log" ||
    fail "no report line"
ok "Orthanc's request for $ct_n de-identified instances (named by their original UIDs) and one unknown: $ct_n committed, 1 failed (0x0112), reported on the node's own association"

# a report that cannot go: the peer's port is wrong; kill -9; the right
# port; the report arrives once
stop_node
sed -i "s/^port = $DP\$/port = $CLOSED/" "$CONF"
start_node
id2=$(curl -sf -X POST "$api/modalities/isonode/storage-commitment" -d "$(body)" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["ID"])') || fail "second N-ACTION"
for _ in $(seq 50); do grep -q "storage commitment $id2 not reported to orthanc (attempt 1)" "$WORK/node.log" && break; sleep 0.1; done
grep -q "storage commitment $id2 not reported to orthanc (attempt 1)" "$WORK/node.log" || fail "no failed attempt"
kill -9 "$NODE_PID"; wait "$NODE_PID" 2>/dev/null; NODE_PID=
curl -sf "$api/storage-commitment/$id2" | grep -q '"Pending"' || fail "reported although the port was wrong"
sed -i "s/^port = $CLOSED\$/port = $DP/" "$CONF"
start_node
commit_state "$id2" 150 || fail "the report did not survive kill -9"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["Status"]=="Success" and len(r["Success"])==int(sys.argv[2]), r' \
    "$WORK/sc.json" "$ct_n" || fail "after the restart: $(cat "$WORK/sc.json")"
sleep 2
[ "$(grep -c "storage commitment $id2 reported to orthanc" "$WORK/node.log")" = 1 ] || fail "reported more than once"
[ "$(sqlite3 "$DATA/outbox.sqlite" "SELECT state || ' ' || committed FROM commitments WHERE transaction_uid = '$id2'")" = "sent $ct_n" ] ||
    fail "the transaction's row: $(sqlite3 "$DATA/outbox.sqlite" "SELECT * FROM commitments")"
node status | grep -q '^commitments: *sent 2 ' || fail "isonode status: $(node status | grep commitments)"
ok "a report that could not go was retried, survived kill -9 and arrived once after the restart; isonode status counts both reports sent"

# a requester that stays on its association after the answer, waiting,
# gets the report there (PS3.4 J.3.3), once: not again on a new one
python3 - "$PORT" "$top_srcdir/tests/lib" "$CT" $(echo "$uids" | head -3) <<'PY' || fail "the report on the same association"
import struct, sys
sys.path.insert(0, sys.argv[2])
import dicomtool as d
cls, known = sys.argv[3], sys.argv[4:]
s = d.connect("127.0.0.1", int(sys.argv[1]))
s.sendall(d.associate_rq(calling="ORTHANC", contexts=((1, d.STORAGE_COMMITMENT, d.IMPLICIT_LE),)))
kind, _ = d.recv_pdu(s)
assert kind == 2, kind
s.sendall(d.pdata(1, d.n_action_rq(msg_id=7), True))
s.sendall(d.pdata(1, d.commit_request("1.2.3.79", [(cls, u) for u in known] + [(cls, "1.2.3.4.998")]), False))
assert d.read_status(s) == 0
cmd, data = d.read_message(s)
assert struct.unpack("<H", cmd[0x0100])[0] == 0x0100, cmd   # N-EVENT-REPORT-RQ
assert struct.unpack("<H", cmd[0x1002])[0] == 2, cmd        # failures exist
vals = d.implicit_values(data, {(0x0008, 0x1195), (0x0008, 0x1155), (0x0008, 0x1197)})
txn = [v for t, v in vals if t == (0x0008, 0x1195)]
refs = [v.rstrip(b"\0").decode() for t, v in vals if t == (0x0008, 0x1155)]
reasons = [struct.unpack("<H", v)[0] for t, v in vals if t == (0x0008, 0x1197)]
assert [t.rstrip(b"\0") for t in txn] == [b"1.2.3.79"], txn
assert refs == ["1.2.3.4.998"] + known, refs   # Failed SOP Sequence (0008,1198) first
assert reasons == [0x0112], reasons
s.sendall(d.pdata(1, d.n_event_report_rsp(struct.unpack("<H", cmd[0x0110])[0], 2), True))
assert d.release(s)
PY
sleep 2
grep -q "storage commitment 1.2.3.79 reported to orthanc on its own association: 3 committed, 1 failed" "$WORK/node.log" ||
    fail "no line for the report on the same association"
[ "$(grep -c "storage commitment 1.2.3.79 reported" "$WORK/node.log")" = 1 ] || fail "reported twice"
[ "$(sqlite3 "$DATA/outbox.sqlite" "SELECT state || ' ' || committed || ' ' || failed FROM commitments WHERE transaction_uid = '1.2.3.79'")" = "sent 3 1" ] ||
    fail "the transaction's row"
ok "a requester waiting on its association got the report there (3 committed, 1 failed 0x0112), once"

# an unknown requester gets a refusal, not a report to an address it chose
python3 - "$PORT" "$top_srcdir/tests/lib" <<'PY' || fail "unknown requester"
import sys
sys.path.insert(0, sys.argv[2])
import dicomtool as d
s, ctx = d.associate("127.0.0.1", int(sys.argv[1]), contexts=((1, d.STORAGE_COMMITMENT, d.IMPLICIT_LE),))
assert ctx.get(1) == 0, ctx
s.sendall(d.pdata(1, d.n_action_rq(), True))
s.sendall(d.pdata(1, d.commit_request("1.2.3.77", ((d.CT_IMAGE, "1.2.3.4.5"),)), False))
status = d.read_status(s)
assert status == 0x0124, hex(status)
d.release(s)
PY
grep -q "storage commitment 1.2.3.77 from PYTEST refused (0x0124): not a configured \[peer\]" "$WORK/node.log" ||
    fail "no refusal line"
ok "a requester that is not a configured [peer] is refused (0124) with a log line"

# a request for 2,000 instances (about 150 KB of N-ACTION information, more
# than a query identifier may hold) is recorded
python3 - "$PORT" "$top_srcdir/tests/lib" <<'PY' || fail "a large commitment request"
import sys
sys.path.insert(0, sys.argv[2])
import dicomtool as d
s = d.connect("127.0.0.1", int(sys.argv[1]))
s.sendall(d.associate_rq(calling="ORTHANC", contexts=((1, d.STORAGE_COMMITMENT, d.IMPLICIT_LE),)))
kind, _ = d.recv_pdu(s)
assert kind == 2, kind
s.sendall(d.pdata(1, d.n_action_rq(), True))
refs = tuple((d.CT_IMAGE, "1.2.3.4.5.%d" % i) for i in range(2000))
d.send_fragmented(s, 1, d.commit_request("1.2.3.78", refs), False)
status = d.read_status(s)
assert status == 0, hex(status)
d.release(s)
PY
grep -q "storage commitment 1.2.3.78 from ORTHANC: 2000 instance(s), report to follow" "$WORK/node.log" ||
    fail "the large request was not recorded"
ok "a request naming 2,000 instances is recorded"
stop_node
