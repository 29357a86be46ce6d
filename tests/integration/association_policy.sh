#!/bin/bash
# Association policy against real DCMTK peers: wrong called AE, calling-AE
# allow-list from [peer] sections, host check, and max_associations answered
# with A-ASSOCIATE-RJ (transient, local limit exceeded) instead of hanging.
. "$top_srcdir/tests/lib/common.sh"
need echoscu python3
tool="python3 $top_srcdir/tests/lib/dicomtool.py"

write_conf "check_calling_ae = yes\nmax_associations = 2" \
    "[peer modality]\nae_title = MODALITY\nhost = 127.0.0.1\nport = 104\n\n[peer remote]\nae_title = REMOTE\nhost = 127.0.0.2\nport = 104"
PORT_SAVED=$PORT
"$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 & NODE_PID=$!
for _ in $(seq 50); do echoscu -aet MODALITY -aec ISONODE 127.0.0.1 "$PORT" >/dev/null 2>&1 && break; sleep 0.1; done

echoscu -aet MODALITY -aec ISONODE 127.0.0.1 "$PORT" || fail "known calling AE refused"
ok "known calling AE accepted"

out=$(echoscu -v -aet MODALITY -aec WRONG 127.0.0.1 "$PORT" 2>&1) && fail "wrong called AE accepted"
echo "$out" | grep -qi 'Called AE Title Not Recognized' || fail "wrong reason: $out"
grep -q "called AE 'WRONG' is not 'ISONODE'" "$WORK/node.log" || fail "no log line for called AE"
ok "wrong called AE rejected: Called AE Title Not Recognized"

out=$(echoscu -v -aet STRANGER -aec ISONODE 127.0.0.1 "$PORT" 2>&1) && fail "unknown calling AE accepted"
echo "$out" | grep -qi 'Calling AE Title Not Recognized' || fail "wrong reason: $out"
echo "$out" | grep -qi 'Rejected Permanent' || fail "not permanent: $out"
grep -q "calling AE 'STRANGER' is not a configured peer" "$WORK/node.log" || fail "no log line"
ok "unknown calling AE rejected permanently: Calling AE Title Not Recognized"

# Host check: REMOTE is only allowed from 127.0.0.2.
stop_node
sed -i 's/^check_calling_ae = yes/check_calling_ae = yes\ncheck_host = yes/' "$CONF"
start_node_as() { "$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 & NODE_PID=$!
    for _ in $(seq 50); do echoscu -aet MODALITY -aec ISONODE 127.0.0.1 "$PORT" >/dev/null 2>&1 && return 0; sleep 0.1; done; fail "no start"; }
start_node_as
out=$(echoscu -v -aet REMOTE -aec ISONODE 127.0.0.1 "$PORT" 2>&1) && fail "REMOTE accepted from wrong host"
grep -q "calling AE 'REMOTE' connected from 127.0.0.1, not from its host 127.0.0.2" "$WORK/node.log" || fail "no host log line"
echoscu -aet MODALITY -aec ISONODE 127.0.0.1 "$PORT" || fail "MODALITY from its own host refused"
ok "host check: AE from another host rejected, from its own host accepted"

# max_associations = 2: hold two, the third is rejected transiently at once.
sed -i 's/^check_calling_ae = yes/check_calling_ae = no/' "$CONF"
stop_node; start_node_as
$tool hold 127.0.0.1 "$PORT" 6 > "$WORK/hold1" 2>&1 & h1=$!
$tool hold 127.0.0.1 "$PORT" 6 > "$WORK/hold2" 2>&1 & h2=$!
for _ in $(seq 50); do [ -s "$WORK/hold1" ] && [ -s "$WORK/hold2" ] && break; sleep 0.1; done
grep -q 'held status=0000' "$WORK/hold1" && grep -q 'held status=0000' "$WORK/hold2" || fail "holders not associated"
t0=$(date +%s.%N)
out=$(echoscu -v -to 10 -aec ISONODE 127.0.0.1 "$PORT" 2>&1) && fail "third association accepted"
t1=$(date +%s.%N)
echo "$out" | grep -qi 'Rejected Transient' || fail "not transient: $out"
echo "$out" | grep -qi 'Local Limit Exceeded' || fail "wrong reason: $out"
python3 -c "import sys; sys.exit(0 if $t1-$t0 < 3 else 1)" || fail "rejection took too long"
ok "beyond max_associations: A-ASSOCIATE-RJ transient, local limit exceeded, answered at once"
wait "$h1" "$h2"
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "not accepting again after holders left"
ok "accepts again once associations are released"
stop_node
