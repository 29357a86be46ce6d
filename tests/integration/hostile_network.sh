#!/bin/bash
# A hostile network against the real daemon (issue 10): deep nesting in the
# data set (both encodings) and in the command set, an oversized, a malformed
# and a stalled A-ASSOCIATE-RQ while storescu stores, a trickled PDU, 40 stalled
# sockets from one host while another host stores, forged newlines in an AE
# title and a UID, a deflate bomb, an object over max_object_mb.  After
# each: the node is up, answered as it should, logged one escaped line, and
# what it had stored is untouched; it recovers at once (timed).
. "$top_srcdir/tests/lib/common.sh"
need echoscu storescu python3
need_shared
tool="python3 $top_srcdir/tests/lib/dicomtool.py"
write_conf "acse_timeout = 10\ndimse_timeout = 4\nmax_associations = 32\nmax_associations_per_host = 16\nmax_object_mb = 8"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/1.dcm" || fail "baseline store"
before=$(node ls instances --json | python3 -c 'import json,sys; print(sorted(r["SHA256"] for r in json.load(sys.stdin)))')
alive() {
    kill -0 "$NODE_PID" 2>/dev/null || fail "$1: node died"
    local t0 t1
    t0=$(date +%s.%N)
    echoscu -to 5 -aec ISONODE 127.0.0.1 "$PORT" >/dev/null 2>&1 || fail "$1: node stopped answering"
    t1=$(date +%s.%N)
    echo "   recovered: C-ECHO answered in $(python3 -c "print(round(($t1-$t0)*1000))") ms"
}
check() { # scenario expected
    local got
    got=$($tool scenario "$1" 127.0.0.1 "$PORT")
    [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"
    ok "$1 -> $2"
    alive "$1"
}

# ---- nesting ----
check deep-dataset status=c000
check deep-dataset-implicit status=c000
check deep-command closed
check nested-ok status=0000
grep -q 'Sequences nested deeper than 32\|nested deeper than 32' "$WORK/node.log" || fail "no log line for the deep data set"
grep -q 'command set refused: sequences nested deeper than 32' "$WORK/node.log" || fail "no log line for the deep command set"
ok "deep nesting refused before DCMTK parses it, each with a log line"

# ---- association requests ----
check big-rq closed
grep -q 'A-ASSOCIATE-RQ length 100000 out of range' "$WORK/node.log" || fail "no log line for the 100,000-byte request"
# malformed requests never reach DCMTK's parser: A-ABORT and one log line
check malformed-rq aborted
check ac-item-in-rq aborted
grep -q 'malformed A-ASSOCIATE-RQ .*an item overruns the A-ASSOCIATE-RQ' "$WORK/node.log" || fail "no log line for the overrunning item"
grep -q 'malformed A-ASSOCIATE-RQ .*A-ASSOCIATE-AC presentation context item in a request' "$WORK/node.log" || fail "no log line for the AC item"
# announces 60,000 bytes, sends half and stalls: storescu meanwhile stores within 2 s
python3 - "$PORT" <<'PY' &
import socket, sys, time, struct
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">BBI", 1, 0, 60000) + b"\0" * 30000)
time.sleep(12)
PY
sleep 0.5
t0=$(date +%s.%N)
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/2.dcm" || fail "storescu while a request stalls"
t1=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if $t1-$t0 < 2 else 1)" || fail "storescu took $(python3 -c "print(round($t1-$t0,2))") s beside a stalled request"
ok "a stalled 60,000-byte request delays nobody: storescu stored in $(python3 -c "print(round($t1-$t0,2))") s"

# ---- a PDU trickled a byte a second: cut off after dimse_timeout (4 s) ----
got=$($tool scenario trickle 127.0.0.1 "$PORT")
secs=${got##* after }; secs=${secs% s}
[ "${got% after*}" = closed ] && [ "$secs" -le 7 ] || fail "trickle: $got"
# the transport guard or DCMTK's own DIMSE read timeout, whichever fires first
grep -q 'C-STORE 1.2.3.4.24 from PYTEST: data set not received completely' "$WORK/node.log" || fail "no log line for the trickled PDU"
grep -Eq 'a PDU did not arrive whole within 4 s|network read timeout after 4' "$WORK/node.log" || fail "no reason logged for the trickled PDU"
ok "a trickled PDU is cut off ($got)"
alive trickle

# ---- 40 stalled sockets from 127.0.0.1, another host stores meanwhile ----
$tool stall 127.0.0.1 "$PORT" 40 9 > "$WORK/stall.out" &
stall_pid=$!
for _ in $(seq 50); do grep -q stalling "$WORK/stall.out" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
t0=$(date +%s.%N)
got=$($tool store 127.0.0.1 "$PORT" 1.2.3.4.30 --from 127.0.0.2)
t1=$(date +%s.%N)
[ "$got" = status=0000 ] || fail "store from 127.0.0.2 beside 40 stalled sockets: $got"
python3 -c "import sys; sys.exit(0 if $t1-$t0 < 2 else 1)" || fail "store from another host took too long"
grep -q 'max_associations_per_host (16) reached' "$WORK/node.log" || fail "no log line for the per-host limit"
ok "40 stalled sockets from one host: another host stored in $(python3 -c "print(round($t1-$t0,2))") s"
wait "$stall_pid"

# ---- forged newlines never forge a log record ----
check forged-newline-ae rejected
check forged-newline-uid status=c000
grep -q '^ERROR forged\|^.\{24\} *ERROR forged' "$WORK/node.log" && fail "a peer's newline forged a log record"
grep -q 'EV\\x0aERROR forged' "$WORK/node.log" || fail "the forged AE title is not logged escaped"
# DCMTK drops control characters from a UI value; whatever is left is one line
grep -q "invalid UID in command (instance '1.2.3" "$WORK/node.log" || fail "no log line for the forged UID"
ok "newlines from peers are escaped in the log"

# ---- a deflate bomb and an object over max_object_mb (8 MiB) ----
python3 - "$WORK/bomb.dcm" "$WORK/big.dcm" <<'PY'
import struct, sys, zlib
def el(g, e, vr, v):
    if len(v) % 2: v += b"\0"
    return struct.pack("<HH2sH", g, e, vr, len(v)) + v
def meta(ts, inst):
    body = (struct.pack("<HH2sHI", 2, 1, b"OB", 0, 2) + b"\0\1" + el(2, 2, b"UI", b"1.2.840.10008.5.1.4.1.1.7")
            + el(2, 3, b"UI", inst) + el(2, 0x10, b"UI", ts))
    return b"\0" * 128 + b"DICM" + struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(body)) + body
def ds(inst):
    return (el(8, 0x16, b"UI", b"1.2.840.10008.5.1.4.1.1.7") + el(8, 0x18, b"UI", inst)
            + el(0x20, 0xD, b"UI", b"1.2.3") + el(0x20, 0xE, b"UI", b"1.2.3.9"))
# 2 GiB of zeros in a private OB, deflated: ~2 MB
inst = b"1.2.3.4.40"
z = zlib.compressobj(9, zlib.DEFLATED, -15)
out = [z.compress(ds(inst) + struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, 2 << 30))]
chunk = b"\0" * (1 << 20)
for _ in range(2048):
    out.append(z.compress(chunk))
out.append(z.flush())
data = b"".join(out)
if len(data) % 2: data += b"\0"
open(sys.argv[1], "wb").write(meta(b"1.2.840.10008.1.2.1.99", inst) + data)
inst = b"1.2.3.4.41"
open(sys.argv[2], "wb").write(meta(b"1.2.840.10008.1.2.1", inst) + ds(inst)
                              + struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0, 12 << 20) + b"\1" * (12 << 20))
PY
echo "   bomb: $(stat -c %s "$WORK/bomb.dcm") bytes deflated, 2 GiB inflated"
rss0=$(awk '/VmRSS/ {print $2}' /proc/$NODE_PID/status)
t0=$(date +%s.%N)
got=$($tool send-file 127.0.0.1 "$PORT" "$WORK/bomb.dcm")
t1=$(date +%s.%N)
[ "$got" = status=a700 ] || fail "deflate bomb: $got"
rss1=$(awk '/VmHWM/ {print $2}' /proc/$NODE_PID/status)
grep -q 'refused as a decompression bomb' "$WORK/node.log" || fail "no log line for the bomb"
[ -z "$(ls -A "$DATA/tmp")" ] || fail "the bomb left files in tmp: $(ls "$DATA/tmp")"
[ "$rss1" -lt 300000 ] || fail "peak RSS $rss1 kB after the bomb"
ok "deflate bomb refused with 0xA700 in $(python3 -c "print(round($t1-$t0,2))") s; peak RSS ${rss1} kB (was ${rss0} kB), tmp empty"
alive bomb
got=$($tool send-file 127.0.0.1 "$PORT" "$WORK/big.dcm")
[ "$got" = status=a700 ] || fail "object over max_object_mb: $got"
grep -q 'object larger than max_object_mb (8 MiB)' "$WORK/node.log" || fail "no log line for the big object"
ok "an object over max_object_mb gets 0xA700"
alive big

after=$(node ls instances --json | python3 -c 'import json,sys; print(sorted(r["SHA256"] for r in json.load(sys.stdin)))')
[ "$(count instances)" = 4 ] || fail "expected 4 instances (baseline, storescu, nested-ok, other host), have $(count instances)"
node verify >/dev/null || fail "verify"
[ -z "$(ls -A "$DATA/tmp")" ] || fail "partial files left in tmp: $(ls "$DATA/tmp")"
python3 - "$before" "$after" <<'PY' || fail "a stored object changed"
import ast, sys
b, a = ast.literal_eval(sys.argv[1]), ast.literal_eval(sys.argv[2])
sys.exit(0 if set(b) <= set(a) else 1)
PY
ok "what was stored before is untouched; verify passes; nothing partial left"
stop_node
