#!/bin/bash
# C-ECHO, then every file in ../shared/data/ts (9 transfer syntaxes) by C-STORE
# with storescu proposing each file's own syntax: all are accepted, indexed,
# stored with their data set byte-identical to what was sent, the meta header
# names the sender, verify passes, and a clean stop/restart keeps it all.
. "$top_srcdir/tests/lib/common.sh"
need echoscu storescu dcmdump python3
need_shared
write_conf
start_node
echoscu -aec ISONODE 127.0.0.1 "$PORT" || fail "C-ECHO"
ok "C-ECHO answered"

cfg=$(storescu_all_ts_cfg)
storescu -xf "$cfg" AllTS -aet MODALITY1 -aec ISONODE 127.0.0.1 "$PORT" "$SHARED"/data/ts/*.dcm \
    > "$WORK/storescu.log" 2>&1 || { cat "$WORK/storescu.log"; fail "storescu failed"; }
[ "$(count instances)" = 9 ] || fail "expected 9 instances, index has $(count instances)"
ok "9 transfer syntaxes accepted and indexed"

for f in "$SHARED"/data/ts/*.dcm; do
    uid=$(dcmdump -s -Un +P 0008,0018 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
    ts=$(dcmdump -s -Un +P 0002,0010 "$f" | sed 's/.*\[\(.*\)\].*/\1/')
    rel=$(node ls instances "SOPInstanceUID=$uid" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["Path"], r[0]["TransferSyntaxUID"])')
    set -- $rel
    [ "$2" = "$ts" ] || fail "$f: stored as $2, sent as $ts"
    python3 "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$DATA/$1" "$f" \
        || fail "$f: stored data set differs from the original"
    src_ae=$(dcmdump -s -Un +P 0002,0016 "$DATA/$1" | sed 's/.*\[\(.*\)\].*/\1/')
    [ "$src_ae" = MODALITY1 ] || fail "$f: SourceApplicationEntityTitle '$src_ae'"
    meta_uid=$(dcmdump -s -Un +P 0002,0003 "$DATA/$1" | sed 's/.*\[\(.*\)\].*/\1/')
    [ "$meta_uid" = "$uid" ] || fail "$f: MediaStorageSOPInstanceUID '$meta_uid'"
done
ok "each data set stored byte-identical, in its own transfer syntax, meta header correct"

node verify > "$WORK/verify.log" || { cat "$WORK/verify.log"; fail "verify"; }
grep -q '^verify: 9 index rows, 9 files, 0 problems' "$WORK/verify.log" || fail "verify summary: $(cat "$WORK/verify.log")"
grep -q 'C-STORE .* from MODALITY1: stored, status 0x0000' "$WORK/node.log" || fail "no per-instance log line"
grep -q 'association MODALITY1 -> ISONODE from 127.0.0.1 released .* stored 9, failed 0' "$WORK/node.log" \
    || fail "no association log line"
ok "verify passes; per-instance and per-association log lines present"

stop_node
[ ! -e "$DATA/RUNNING" ] || fail "RUNNING marker left after clean stop"
grep -q 'stopped cleanly' "$WORK/node.log" || fail "no clean stop logged"
start_node
grep -q 'recover' "$WORK/node.log" && fail "recovery ran after a clean stop"
[ "$(count instances)" = 9 ] || fail "instances lost across restart"
node verify >/dev/null || fail "verify after restart"
ok "clean stop and restart keep everything, no recovery needed"
