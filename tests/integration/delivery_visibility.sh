#!/bin/bash
# Failures where people look (issue 16): a receiver that cannot store two of
# the derived object types (DCMTK storescp accepting Encapsulated STL only)
# gets the results of a phantom series.  The log names each refused object's
# class and status; `isonode jobs` says how many of the job's objects were
# delivered and why the others were not; its times are ISO 8601, and so are
# the outbox's.  The node's own results sent back to it start no job; an
# association rejected for its presentation contexts logs what it proposed.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu storescp sqlite3
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" || fail "phantom"
cat > "$WORK/stl-only.cfg" <<'C'
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LittleEndianExplicit
TransferSyntax2 = LittleEndianImplicit
[[PresentationContexts]]
[STL]
PresentationContext1 = 1.2.840.10008.5.1.4.1.1.104.3\Uncompressed
[[Profiles]]
[STLOnly]
PresentationContexts = STL
C
RECV_PORT=$(free_port)
mkdir -p "$WORK/recv"
storescp -aet SENDER -xf "$WORK/stl-only.cfg" STLOnly -od "$WORK/recv" "$RECV_PORT" > "$WORK/recv.log" 2>&1 &
RECV_PID=$!
trap 'kill $RECV_PID 2>/dev/null; cleanup' EXIT
write_conf "" "[reconstruct]
settle_seconds = 1
render = no
[surface ball]
modality = CT
iso = 500
[outbox]
max_attempts = 1
[peer sender]
ae_title = SENDER
host = 127.0.0.1
port = $RECV_PORT"
start_node
storescu -aet SENDER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/src"/*.dcm || fail "storescu"
wait_jobs_done 1 60 || fail "no job: $(node jobs list)"
for _ in $(seq 100); do
    [ "$(sqlite3 "$DATA/outbox.sqlite" "SELECT count(*) FROM outbox WHERE state IN ('queued')")" = 0 ] &&
        [ "$(sqlite3 "$DATA/outbox.sqlite" "SELECT count(*) FROM outbox")" -gt 0 ] && break
    sleep 0.1
done
line=$(node jobs list | sed -n 2p)
echo "isonode jobs: $line"
case $line in
    *"delivered 1 of 3 to sender, 2 refused (status 0xFFFF ("*"Storage): no presentation context)"*) ;;
    *) fail "isonode jobs does not say what was refused: $line" ;;
esac
delivery=$(node jobs list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["delivery"])')
[ "${delivery#delivered 1 of 3 to sender}" != "$delivery" ] || fail "JSON delivery: $delivery"
for cls in SurfaceSegmentationStorage SegmentationStorage; do
    grep -q "WARN  outbox: sender refused $cls (outbox item [0-9]*): status 0xFFFF ($cls): no presentation context" "$WORK/node.log" ||
        fail "no log line naming the refused $cls"
done
grep -q "outbox: 1 of 3 object(s) delivered to sender (the refusals are logged above)" "$WORK/node.log" ||
    fail "the summary line"
node jobs show 1 | grep -Eq '^created +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
    fail "jobs show: created is not ISO 8601: $(node jobs show 1 | grep created)"
node outbox | awk -F'\t' 'NR > 1 && $5 != "" && $5 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/ {bad = 1} END {exit bad}' ||
    fail "outbox next_at is not ISO 8601: $(node outbox | head -3)"
ok "a receiver refusing two result types: the log names each refused class and status, isonode jobs says 'delivered 1 of 3, 2 refused (why)', times are ISO 8601"

# the node's own results, sent back to it (a PACS re-sending the study):
# stored, one log line, no job
storescu -R -aec ISONODE 127.0.0.1 "$PORT" "$WORK"/recv/* || fail "storescu the results back"
sleep 3
[ "$(node jobs list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
    fail "a job for the node's own results: $(node jobs list)"
[ "$(grep -c "is the node's own reconstruction results (Manufacturer isonode, isonode reconstruction): stored, no job" "$WORK/node.log")" = 1 ] ||
    fail "not one log line for the results that came back"
stop_node; start_node # nor at the next start, when stored series without a job settle again
sleep 3
[ "$(node jobs list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
    fail "a job for the node's own results after a restart: $(node jobs list)"
ok "the node's own results sent back to it are stored and start no job, with one log line, nor after a restart"

# an association whose contexts all fail says what it proposed
$PY - "$PORT" "$top_srcdir/tests/lib" <<'PY' || fail "the unacceptable association"
import sys
sys.path.insert(0, sys.argv[2])
import dicomtool as d
s = d.connect("127.0.0.1", int(sys.argv[1]))
s.sendall(d.associate_rq(contexts=((1, "1.2.3.4.5.6.7", d.EXPLICIT_LE), (3, d.CT_IMAGE, "1.2.3.4.99"))))
kind, _ = d.recv_pdu(s)
assert kind == 3, kind  # A-ASSOCIATE-RJ
PY
grep -q "no acceptable presentation context among 2 proposed: 1.2.3.4.5.6.7 \[LittleEndianExplicit\]; CTImageStorage \[1.2.3.4.99\]" "$WORK/node.log" ||
    fail "the rejection does not name what was proposed: $(grep 'no acceptable' "$WORK/node.log")"
ok "an association rejected for its presentation contexts logs the abstract and transfer syntaxes it proposed"
stop_node
