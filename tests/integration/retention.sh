#!/bin/bash
# Retention (issue 16): studies are removed by age or for space, never while
# something still needs them, and a crash in the middle of a removal leaves
# a store that `isonode verify` and recovery agree on.
#   - by hand (isonode purge, daemon stopped): a study whose forwarded
#     objects the outbox has not delivered is kept, with the reason; a dry
#     run removes nothing; a kill -9 between the removal's commit and its
#     unlinks (an LD_PRELOAD shim kills at the first unlink) leaves files
#     without rows, which verify lists and recovery removes -- nothing else;
#   - the daemon on a small loop-mounted ext4 (130 MB): 14 studies of
#     15 MB each arrive one after another; the node removes the oldest above
#     high_water_percent, every C-STORE succeeds, the disk stays below the
#     limit and the study the outbox still holds stays.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu dcmodify python3 sqlite3 cc
need_shared
CT=$SHARED/data/ct/ge-tilt-28
DOWN=$(free_port) # nobody listens: what is forwarded there stays queued
cc -shared -fPIC -O2 -o "$WORK/crash_on_unlink.so" "$top_srcdir/tests/lib/crash_on_unlink.c" -ldl ||
    fail "build the shim"
# copy N TAG: a copy of the CT series with its own study, series and instance UIDs
copy() {
    mkdir -p "$WORK/s$1"
    cp "$CT"/* "$WORK/s$1/"
    dcmodify -nb -gin -m "StudyInstanceUID=1.2.826.0.1.3680043.10.543.$2.$1" \
        -m "SeriesInstanceUID=1.2.826.0.1.3680043.10.543.$2.$1.1" "$WORK/s$1"/* > /dev/null 2>&1 ||
        fail "dcmodify $1"
    echo "1.2.826.0.1.3680043.10.543.$2.$1"
}
conf() { # DATA_DIR EXTRA
    DATA=$1
    write_conf "" "[reconstruct]
settle_seconds = 1
[outbox]
retry_base_seconds = 3600
[peer down]
ae_title = DOWN
host = 127.0.0.1
port = $DOWN
[route keeper]
calling_ae = KEEPER
reconstruct = no
forward_to = down
[route longkeep]
calling_ae = LONGKEEP
reconstruct = no
keep_days = 3650
[route all]
reconstruct = no
${2:-}"
}
studies() { node ls studies --json | python3 -c 'import json,sys; print(" ".join(sorted(r["StudyInstanceUID"] for r in json.load(sys.stdin))))'; }

# ---- by hand ----
conf "$WORK/data"
start_node
a=$(copy 1 1); b=$(copy 2 1); c=$(copy 3 1)
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s1"/* || fail "storescu a"
storescu -aet KEEPER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s2"/* || fail "storescu b"
storescu -aet LONGKEEP -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s3"/* || fail "storescu c"
wait_jobs_done 3 60 || fail "jobs: $(node jobs list)"
stop_node
node purge --dry-run --study "$b" > "$WORK/dry-b" || fail "purge --dry-run --study b"
grep -q "^kept	$b	the outbox has not delivered all of it" "$WORK/dry-b" || fail "b not kept: $(cat "$WORK/dry-b")"
node purge --dry-run --study "$a" > "$WORK/dry-a" || fail "purge --dry-run --study a"
grep -q "^would remove	$a	28 instances" "$WORK/dry-a" || fail "dry run: $(cat "$WORK/dry-a")"
[ "$(studies)" = "$a $b $c" ] || fail "a dry run removed something"
node purge --older-than 1 | grep -q "^0 studies removed" || fail "purge --older-than 1 removed recent studies"
# by age: every study arrived in 2020; [retention] keep_days = 30, but the
# route that decided c keeps it 3650 days, and b is still held by the outbox
sqlite3 "$DATA/index.sqlite" "UPDATE instances SET received_at = '2020-01-02T03:04:05.000Z'" || fail "age the studies"
conf "$WORK/data" "[retention]
keep_days = 30"
node purge --dry-run > "$WORK/dry-age" || fail "purge --dry-run by keep_days"
grep -q "^would remove	$a	.*last instance arrived more than 30 days ago" "$WORK/dry-age" || fail "a not due: $(cat "$WORK/dry-age")"
grep -q "$c" "$WORK/dry-age" && fail "c is due despite its route's keep_days: $(cat "$WORK/dry-age")"
grep -q "^1 study would go (.*), 1 kept because still needed" "$WORK/dry-age" || fail "summary: $(tail -1 "$WORK/dry-age")"
ok "purge: a dry run removes nothing; a study whose forwarded objects are not delivered is kept, with the reason; by age, [retention] keep_days applies unless the study's route keeps it longer"

# kill -9 between the commit and the first unlink
rc=0
CRASH_UNLINK_MATCH=/objects/ LD_PRELOAD="$WORK/crash_on_unlink.so" "$ISONODE" -c "$CONF" purge --study "$a" \
    > /dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] || fail "the shim did not kill purge (exit $rc)"
[ "$(studies)" = "$b $c" ] || fail "after the crash the index holds $(studies)"
node verify > "$WORK/verify1.log" && fail "verify passed with orphan files"
orphans=$(grep -c "^UNINDEXED objects/" "$WORK/verify1.log")
[ "$orphans" = 28 ] || fail "verify lists $orphans files without a row, not the study's 28: $(head -3 "$WORK/verify1.log")"
start_node
grep -q "store recovered after unclean stop: 0 partial files, 28 unacknowledged objects and 0 kept originals without an object removed" "$WORK/node.log" ||
    fail "recovery: $(grep recovered "$WORK/node.log")"
node verify > "$WORK/verify2.log" || fail "verify after recovery: $(head -5 "$WORK/verify2.log")"
stop_node
ok "kill -9 between a removal's commit and its unlinks: verify names exactly the study's 28 files, recovery removes them, verify passes"

# ---- the vault rows of removed studies (keep_vault_days) ----
DATA=$WORK/data-v
ANONYMIZE=yes write_conf "" "[reconstruct]
settle_seconds = 1
[route all]
reconstruct = no
[retention]
keep_vault_days = 1"
start_node
copy 4 1 > /dev/null
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s4"/* || fail "storescu d"
wait_jobs_done 1 60 || fail "job d: $(node jobs list)"
stop_node
d=$(studies) # the store's (de-identified) Study Instance UID
vrows() { sqlite3 "$DATA/vault.sqlite" "SELECT count(*) FROM vault"; }
node vault lookup "$d" > /dev/null || fail "the vault does not know the stored study"
before=$(vrows)
node purge --study "$d" | grep -q "^removed	$d" || fail "purge d"
[ "$(sqlite3 "$DATA/vault.sqlite" "SELECT count(*) FROM vault_expiry WHERE expires_at > strftime('%s','now') + 86000")" = 31 ] ||
    fail "expiry not scheduled for the study, its series and 28 instances: $(sqlite3 "$DATA/vault.sqlite" 'SELECT count(*) FROM vault_expiry')"
# sent again before the expiry: the rows stay
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s4"/* || fail "storescu d again"
wait_jobs_done 2 60 || fail "job d again: $(node jobs list)"
stop_node
sqlite3 "$DATA/vault.sqlite" "UPDATE vault_expiry SET expires_at = 0"
node purge --older-than 36500 > /dev/null || fail "purge (expiry)"
[ "$(vrows)" = "$before" ] && [ "$(sqlite3 "$DATA/vault.sqlite" 'SELECT count(*) FROM vault_expiry')" = 0 ] ||
    fail "the rows of a study stored again were not kept: $(vrows) of $before"
# removed again, and the day has passed: the rows go
node purge --study "$d" > /dev/null || fail "purge d again"
sqlite3 "$DATA/vault.sqlite" "UPDATE vault_expiry SET expires_at = 0"
node purge --older-than 36500 > /dev/null || fail "purge (expiry)"
[ "$(vrows)" = $((before - 31)) ] || fail "vault rows: $(vrows), want $((before - 31))"
node vault lookup "$d" > /dev/null 2>&1 && fail "the vault still knows the removed study"
ok "keep_vault_days: a removed study's 31 vault rows are scheduled, kept if it is stored again, deleted once due"

# ---- the daemon on a small file system ----
losetup -f > /dev/null 2>&1 && command -v mkfs.ext4 > /dev/null || skip "no loop device (not root, or a container)"
truncate -s 130M "$WORK/fs.img"
mkfs.ext4 -q -F "$WORK/fs.img" || fail "mkfs"
mkdir -p "$WORK/fs"
mount -o loop "$WORK/fs.img" "$WORK/fs" 2> "$WORK/mount.err" || skip "cannot mount a loop device: $(cat "$WORK/mount.err")"
trap 'stop_node 2>/dev/null; umount "$WORK/fs" 2>/dev/null; cleanup' EXIT
conf "$WORK/fs/data" "[retention]
high_water_percent = 60
low_water_percent = 45
interval_seconds = 1
[node]
min_free_mb = 10"
start_node
keep=$(copy 100 2)
storescu -aet KEEPER -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s100"/* || fail "storescu keeper"
max=0
for k in $(seq 1 14); do
    copy "$k" 2 > /dev/null
    storescu -aec ISONODE 127.0.0.1 "$PORT" "$WORK/s$k"/* > "$WORK/scu$k.log" 2>&1 ||
        fail "study $k refused: $(tail -2 "$WORK/scu$k.log")"
    rm -rf "$WORK/s$k"
    used=$(df --output=pcent "$WORK/fs" | tail -1 | tr -dc 0-9)
    [ "$used" -gt "$max" ] && max=$used
    sleep 1
done
sleep 4
used=$(df --output=pcent "$WORK/fs" | tail -1 | tr -dc 0-9)
free=$(df --output=avail -m "$WORK/fs" | tail -1 | tr -dc 0-9)
removed=$(grep -c "retention: removed study" "$WORK/node.log")
echo "14 studies of 15 MB into 130 MB: $removed removed, disk at most $max% full, now $used%, $free MB free"
[ "$removed" -ge 6 ] || fail "only $removed studies removed"
[ "$used" -le 60 ] || fail "the disk is $used% full after the last study"
[ "$max" -le 80 ] || fail "the disk reached $max%"
[ "$free" -gt 10 ] || fail "only $free MB free"
studies | grep -q "$keep" || fail "the study the outbox holds was removed"
grep "retention: removed study" "$WORK/node.log" | grep -q "$keep" && fail "the held study was logged as removed"
grep -q "retention: removed study 1.2.826.0.1.3680043.10.543.2.1 (28 instances, .*): the disk is [0-9]*% full (high_water_percent 60" "$WORK/node.log" ||
    fail "the oldest study was not the first removed: $(grep 'retention: removed' "$WORK/node.log" | head -2)"
node verify > "$WORK/verify3.log" || fail "verify: $(head -5 "$WORK/verify3.log")"
stop_node
ok "a 130 MB file system took 14 x 15 MB: $removed oldest studies removed for space, every C-STORE succeeded, the disk peaked at $max%, the held study stayed, verify passes"
