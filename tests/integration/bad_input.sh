#!/bin/bash
# Bad input from a peer: garbage, wrong or lying PDUs, truncated requests, a
# stalled client, malformed data sets and data sets that contradict their
# command.  Each gets a clear DICOM status or a closed connection and a log
# line; the daemon keeps serving others, stores nothing partial, and what
# was stored before is untouched.
. "$top_srcdir/tests/lib/common.sh"
need echoscu storescu python3
need_shared
tool="python3 $top_srcdir/tests/lib/dicomtool.py"
write_conf "acse_timeout = 3\ndimse_timeout = 5"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/1.dcm" || fail "baseline store"
before=$(node ls instances --json | python3 -c 'import json,sys; print([r["SHA256"] for r in json.load(sys.stdin)])')

# A client that sends half an A-ASSOCIATE-RQ and then stalls must not delay
# anyone else.
python3 - "$PORT" <<'PY' &
import socket, sys, time, struct
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">BBI", 1, 0, 200) + b"\0" * 20)
time.sleep(8)
PY
sleep 0.3
t0=$(date +%s.%N)
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "C-ECHO while a client stalls"
t1=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if $t1-$t0 < 1.5 else 1)" || fail "C-ECHO delayed by a stalled client"
ok "a stalled half A-ASSOCIATE-RQ does not delay other associations"

check() { # scenario expected
    local got
    got=$($tool scenario "$1" 127.0.0.1 "$PORT")
    [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"
    echoscu -aec ISONODE 127.0.0.1 "$PORT" >/dev/null 2>&1 || fail "$1: node stopped answering"
    kill -0 "$NODE_PID" || fail "$1: node died"
    ok "$1 -> $2, node still serving"
}
check garbage closed
check wrong-first-pdu closed
check huge-length closed
check truncated-rq closed
check oversized-pdata closed
check lying-pdv-length closed
check lying-element-length status=c000
check missing-sop-instance status=a900
check instance-mismatch status=a900
check class-mismatch status=a900
check context-mismatch status=0122
check invalid-uid status=c000
check invalid-study-uid status=c000
check abort-mid-dataset sent
check good status=0000

grep -q 'first PDU has type 0x04' "$WORK/node.log" || fail "no log line for wrong first PDU"
grep -q 'A-ASSOCIATE-RQ length .* out of range' "$WORK/node.log" || fail "no log line for huge length"
grep -q 'status 0xa900 (SOP Instance UID differs from request)' "$WORK/node.log" || fail "no log line for mismatch"
grep -q 'data set not received completely; nothing stored' "$WORK/node.log" || fail "no log line for abort"
ok "each refusal is logged with its reason"

[ "$(count instances)" = 2 ] || fail "expected the baseline and the good object only, have $(count instances)"
after=$(node ls instances --json | python3 -c 'import json,sys; print([r["SHA256"] for r in json.load(sys.stdin) if r["SOPInstanceUID"] != "1.2.3.4.99"])')
[ "$before" = "$after" ] || fail "stored object changed"
[ -z "$(ls -A "$DATA/tmp")" ] || fail "partial files left in tmp: $(ls "$DATA/tmp")"
node verify >/dev/null || fail "verify"
rss=$(awk '/VmRSS/ {print $2}' /proc/$NODE_PID/status)
[ "$rss" -lt 200000 ] || fail "RSS $rss kB after bad input"
ok "nothing partial stored, earlier objects untouched, verify passes, RSS ${rss} kB"

# A client stalled in its A-ASSOCIATE-RQ must not hold up a clean stop.
python3 - "$PORT" <<'PY' &
import socket, sys, time, struct
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">BBI", 1, 0, 200) + b"\0" * 20)
time.sleep(20)
PY
stall=$!
sleep 0.5
t0=$(date +%s.%N)
stop_node
t1=$(date +%s.%N)
kill "$stall" 2>/dev/null
python3 -c "import sys; sys.exit(0 if $t1-$t0 < 5 else 1)" || fail "SIGTERM took $(python3 -c "print(round($t1-$t0,1))") s with a stalled client"
ok "SIGTERM with a stalled client: clean stop in $(python3 -c "print(round($t1-$t0,1))") s"
