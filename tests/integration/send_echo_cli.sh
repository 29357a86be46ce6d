#!/bin/bash
# The operator CLI against real peers: isonode echo and send to a DCMTK
# storescp; status, ls (text and JSON), show; data sets arrive unchanged.
. "$top_srcdir/tests/lib/common.sh"
need storescu storescp echoscu python3
need_shared
scp_port=$(free_port)
mkdir -p "$WORK/received"
storescp -aet RECEIVER +xa -od "$WORK/received" "$scp_port" > "$WORK/storescp.log" 2>&1 &
write_conf "" "[peer receiver]\nae_title = RECEIVER\nhost = 127.0.0.1\nport = $scp_port"
start_node
cfg=$(storescu_all_ts_cfg)
storescu -xf "$cfg" AllTS -aec ISONODE 127.0.0.1 "$PORT" "$SHARED"/data/ts/*.dcm || fail "storescu"

node echo receiver | grep -q 'success' || fail "isonode echo"
node echo nosuchpeer 2>/dev/null && fail "echo to unknown peer succeeded"
ok "isonode echo reaches a configured peer, refuses an unknown one"

study=$(node ls studies --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["StudyInstanceUID"])')
node send receiver "$study" > "$WORK/send.log" || { cat "$WORK/send.log"; fail "isonode send"; }
grep -q 'sent 9 of 9 instances to receiver' "$WORK/send.log" || fail "send summary: $(cat "$WORK/send.log")"
n=$(find "$WORK/received" -type f | wc -l)
[ "$n" = 9 ] || fail "storescp received $n files"
for f in "$WORK"/received/*; do
    uid=$(dcmdump -s -Un +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
    orig=$(grep -l "$uid" /dev/null $(for o in "$SHARED"/data/ts/*.dcm; do dcmdump -s -Un +P 0008,0018 "$o" | grep -q "$uid" && echo "$o"; done) 2>/dev/null | head -1)
    [ -n "$orig" ] || fail "unknown instance $uid received"
    python3 "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$f" "$orig" || fail "$uid changed in transit"
done
ok "isonode send: 9 instances in 9 transfer syntaxes arrive at storescp unchanged"

node status > "$WORK/status"
grep -q '^instances: *9$' "$WORK/status" || fail "status: $(cat "$WORK/status")"
grep -q '^daemon: *running' "$WORK/status" || fail "status does not see the daemon"
grep -q '^free space:' "$WORK/status" || fail "status lacks free space"
node ls series > "$WORK/ls.txt"
head -1 "$WORK/ls.txt" | grep -q '^SeriesInstanceUID	StudyInstanceUID	Modality' || fail "ls header"
node ls series Modality=MR --json | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r and all(x["Modality"]=="MR" for x in r)' || fail "ls filter"
[ "$(node ls series Modality=CT --json)" = "[]" ] || fail "ls filter CT"
node ls series NoSuchKeyword=x >/dev/null 2>&1 && fail "unknown keyword accepted"
node show "$study" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[0]["NumberOfStudyRelatedInstances"]==9' || fail "show"
node show 9.9.9 2>/dev/null && fail "show of unknown UID succeeded"
ok "status, ls (text, JSON, filters), show behave"
stop_node
