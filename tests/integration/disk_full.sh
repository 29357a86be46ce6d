#!/bin/bash
# Disk full on a small tmpfs: below min_free_mb, and on a real ENOSPC while
# writing, C-STORE answers 0xA700, nothing partial is stored, what is stored
# stays valid, and storing resumes by itself once space returns.
. "$top_srcdir/tests/lib/common.sh"
need storescu python3
need_shared
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
series=$SHARED/data/ct/philips-phantom-140
[ -d "$series" ] || skip "no $series"
mkdir -p "$WORK/small"
mount -t tmpfs -o size=16m tmpfs "$WORK/small" || skip "cannot mount tmpfs here"
trap 'umount -l "$WORK/small" 2>/dev/null; cleanup' EXIT
DATA=$WORK/small/data
files=$(find "$series" -type f | sort)

# 1. real ENOSPC while writing (min_free_mb = 0)
write_conf "min_free_mb = 0"
start_node
storescu -v -aec ISONODE 127.0.0.1 "$PORT" $files > "$WORK/scu1.log" 2>&1
acked=$(grep -c 'Received Store Response (Success)' "$WORK/scu1.log")
full=$(grep -ci 'OutOfResources\|Out of Resources\|0xa700' "$WORK/scu1.log")
[ "$full" -gt 0 ] || { tail "$WORK/scu1.log"; fail "no out-of-resources status on ENOSPC"; }
[ "$(count instances)" = "$acked" ] || fail "index has $(count instances), $acked acknowledged"
[ -z "$(ls -A "$DATA/tmp")" ] || fail "partial files left in tmp"
grep -q 'status 0xa700' "$WORK/node.log" || fail "no log line for 0xA700"
node verify > /dev/null || fail "verify after ENOSPC"
kill -0 "$NODE_PID" || fail "node died on ENOSPC"
ok "ENOSPC: $acked stored, $full answered 0xA700, nothing partial, verify passes"

# 2. space returns: stores succeed again without a restart
mount -o remount,size=160m "$WORK/small" || fail "remount"
storescu -aec ISONODE 127.0.0.1 "$PORT" $files > "$WORK/scu2.log" 2>&1 || { tail "$WORK/scu2.log"; fail "stores after space returned"; }
[ "$(count instances)" = 140 ] || fail "expected 140 after space returned, have $(count instances)"
ok "space returned: all 140 stored without restart"
stop_node

# 3. the disk fills while the object itself is written (the index still has
#    room): 0xA700, not a parse error on the truncated file.
stop_node
rm -rf "$DATA"
write_conf "min_free_mb = 0"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/1.dcm" >/dev/null 2>&1 || fail "first store"
free_kb=$(df -k --output=avail "$WORK/small" | tail -1)
fallocate -l $(( (free_kb - 100) * 1024 )) "$WORK/small/filler" || fail "fallocate"
storescu -v -aec ISONODE 127.0.0.1 "$PORT" $(echo $files | cut -d' ' -f1) > "$WORK/scu4.log" 2>&1
grep -qi 'OutOfResources\|Out of Resources\|0xa700' "$WORK/scu4.log" || { cat "$WORK/scu4.log"; tail -3 "$WORK/node.log"; fail "write ENOSPC not answered 0xA700"; }
grep -q 'status 0xc000' "$WORK/node.log" && fail "a full disk was reported as an unparseable data set"
[ -z "$(ls -A "$DATA/tmp")" ] || fail "partial file left in tmp"
[ "$(count instances)" = 1 ] || fail "index changed"
rm -f "$WORK/small/filler"
ok "disk full while writing the object: 0xA700, nothing partial, index unchanged"

# 4. min_free_mb threshold: refuse before writing
rm -rf "$DATA"
write_conf "min_free_mb = 1000"
start_node
storescu -v -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/1.dcm" > "$WORK/scu3.log" 2>&1
grep -qi 'OutOfResources\|Out of Resources\|0xa700' "$WORK/scu3.log" || { cat "$WORK/scu3.log"; fail "no 0xA700 below min_free_mb"; }
grep -q 'min_free_mb = 1000' "$WORK/node.log" || fail "no log line naming min_free_mb"
[ "$(count instances)" = 0 ] || fail "stored below min_free_mb"
ok "below min_free_mb: 0xA700 with the reason logged, nothing stored"
stop_node
