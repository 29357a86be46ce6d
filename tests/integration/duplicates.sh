#!/bin/bash
# The duplicates policy: an instance received again is kept (default) or
# replaced atomically; never two rows, never an orphan or lost file.  The
# same instance arriving on several associations at once is stored once.
. "$top_srcdir/tests/lib/common.sh"
need storescu dcmodify python3
need_shared
tool="python3 $top_srcdir/tests/lib/dicomtool.py"
files_on_disk() { find "$DATA/objects" -type f | wc -l; }
sha_of() { node ls instances "SOPInstanceUID=$1" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["SHA256"], r[0]["Path"])'; }

cp "$SHARED/data/ts/1.dcm" "$WORK/a.dcm"
cp "$SHARED/data/ts/1.dcm" "$WORK/b.dcm"
dcmodify -nb -m "PatientName=Changed^Name" "$WORK/b.dcm"
uid=$(dcmdump -s -Un +P 0008,0018 "$WORK/a.dcm" | sed 's/.*\[\(.*\)\].*/\1/')

write_conf
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/a.dcm" || fail "first store"
first=$(sha_of "$uid")
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/b.dcm" || fail "second store not acknowledged"
[ "$(sha_of "$uid")" = "$first" ] || fail "keep policy changed the stored object"
[ "$(count instances)" = 1 ] && [ "$(files_on_disk)" = 1 ] || fail "rows/files after keep"
grep -q "duplicate, kept stored copy" "$WORK/node.log" || fail "no log line for kept duplicate"
ok "duplicates = keep: second copy acknowledged, first kept, one row, one file"

stop_node
sed -i 's/^\[node\]/[node]\nduplicates = replace/' "$CONF"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/b.dcm" || fail "replacing store"
set -- $(sha_of "$uid")
[ "$1" != "${first%% *}" ] || fail "replace policy did not replace"
case "$2" in *.v2.dcm) ;; *) fail "replaced object not stored as a new version: $2" ;; esac
[ "$(count instances)" = 1 ] && [ "$(files_on_disk)" = 1 ] || fail "rows/files after replace: $(count instances)/$(files_on_disk)"
python3 "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$DATA/$2" "$WORK/b.dcm" || fail "replacement content"
ok "duplicates = replace: new content, new version path, old file gone, one row"

# The same instance on 10 associations at once, 5 rounds.
for round in 1 2 3 4 5; do
    pids=()
    for i in $(seq 10); do $tool store 127.0.0.1 "$PORT" "1.2.826.0.1.99.$round" > "$WORK/race.$round.$i" & pids+=($!); done
    wait "${pids[@]}"
    grep -L 'status=0000' "$WORK"/race.$round.* | grep -q . && fail "round $round: a store was not acknowledged"
done
[ "$(count instances)" = 6 ] || fail "expected 6 rows, have $(count instances)"
[ "$(files_on_disk)" = 6 ] || fail "expected 6 files, have $(files_on_disk)"
node verify > /dev/null || fail "verify after races"
ok "same instance on 10 associations at once, 5 rounds: one row and one file each"
stop_node
