#!/bin/bash
# Disk full, on a small tmpfs and on a small ext4 (a loop device: there the
# store writes objects with O_DIRECT, so ENOSPC comes from a direct write):
# below min_free_mb, and on a real ENOSPC while writing, C-STORE answers
# 0xA700, nothing partial is stored, what is stored stays valid, and storing
# resumes by itself once space returns.
. "$top_srcdir/tests/lib/common.sh"
need storescu python3 fallocate
need_shared
[ "$(id -u)" = 0 ] || skip "needs root to mount file systems"
series=$SHARED/data/ct/philips-phantom-140
[ -d "$series" ] || skip "no $series"
files=$(find "$series" -type f | sort)
SMALL=$WORK/small
mkdir -p "$SMALL"
trap 'umount -l "$SMALL" 2>/dev/null; cleanup' EXIT

# fill_to KB: leaves about KB KiB free on $SMALL (a filler file takes the
# rest; ext4 needs a few blocks for the filler's own extents, so it backs off)
fill_to() {
    rm -f "$SMALL/filler"
    local free_kb try
    free_kb=$(df -k --output=avail "$SMALL" | tail -1)
    for try in 0 64 128 256 512 1024; do
        [ "$free_kb" -gt $(( $1 + try )) ] || return 0
        fallocate -l $(( (free_kb - $1 - try) * 1024 )) "$SMALL/filler" 2>/dev/null && return 0
        rm -f "$SMALL/filler"
    done
    fail "cannot fill $SMALL"
}

# scenarios FSNAME: the four cases on the file system mounted at $SMALL
scenarios() {
    local fs=$1
    DATA=$SMALL/data
    # 1. real ENOSPC while writing (min_free_mb = 0): 16 MiB hold ~25 of 140
    write_conf "min_free_mb = 0"
    start_node
    fill_to $(( 16 * 1024 ))
    storescu -v -aec ISONODE 127.0.0.1 "$PORT" $files > "$WORK/scu1.log" 2>&1
    acked=$(grep -c 'Received Store Response (Success)' "$WORK/scu1.log")
    full=$(grep -ci 'OutOfResources\|Out of Resources\|0xa700' "$WORK/scu1.log")
    [ "$full" -gt 0 ] || { tail "$WORK/scu1.log"; fail "$fs: no out-of-resources status on ENOSPC"; }
    [ "$(count instances)" = "$acked" ] || fail "$fs: index has $(count instances), $acked acknowledged"
    [ -z "$(ls -A "$DATA/tmp")" ] || fail "$fs: partial files left in tmp"
    grep -q 'status 0xa700' "$WORK/node.log" || fail "$fs: no log line for 0xA700"
    node verify > /dev/null || fail "$fs: verify after ENOSPC"
    kill -0 "$NODE_PID" || fail "$fs: node died on ENOSPC"
    ok "$fs: ENOSPC: $acked stored, $full answered 0xA700, nothing partial, verify passes"

    # 2. space returns: stores succeed again without a restart
    rm -f "$SMALL/filler"
    storescu -aec ISONODE 127.0.0.1 "$PORT" $files > "$WORK/scu2.log" 2>&1 || { tail "$WORK/scu2.log"; fail "$fs: stores after space returned"; }
    [ "$(count instances)" = 140 ] || fail "$fs: expected 140 after space returned, have $(count instances)"
    node verify > /dev/null || fail "$fs: verify after space returned"
    ok "$fs: space returned: all 140 stored without restart"
    stop_node

    # 3. the disk fills while the object itself is written (the index still
    #    has room): 0xA700, not a parse error on a truncated file.
    rm -rf "$DATA"
    write_conf "min_free_mb = 0"
    start_node
    storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/1.dcm" >/dev/null 2>&1 || fail "$fs: first store"
    fill_to 100
    storescu -v -aec ISONODE 127.0.0.1 "$PORT" $(echo $files | cut -d' ' -f1) > "$WORK/scu4.log" 2>&1
    grep -qi 'OutOfResources\|Out of Resources\|0xa700' "$WORK/scu4.log" || { cat "$WORK/scu4.log"; tail -3 "$WORK/node.log"; fail "$fs: write ENOSPC not answered 0xA700"; }
    grep -q 'status 0xc000' "$WORK/node.log" && fail "$fs: a full disk was reported as an unparseable data set"
    [ -z "$(ls -A "$DATA/tmp")" ] || fail "$fs: partial file left in tmp"
    [ "$(count instances)" = 1 ] || fail "$fs: index changed"
    rm -f "$SMALL/filler"
    ok "$fs: disk full while writing the object: 0xA700, nothing partial, index unchanged"
    stop_node

    # 4. min_free_mb threshold: refuse before writing
    rm -rf "$DATA"
    write_conf "min_free_mb = 1000"
    start_node
    storescu -v -aec ISONODE 127.0.0.1 "$PORT" "$SHARED/data/ts/1.dcm" > "$WORK/scu3.log" 2>&1
    grep -qi 'OutOfResources\|Out of Resources\|0xa700' "$WORK/scu3.log" || { cat "$WORK/scu3.log"; fail "$fs: no 0xA700 below min_free_mb"; }
    grep -q 'min_free_mb = 1000' "$WORK/node.log" || fail "$fs: no log line naming min_free_mb"
    [ "$(count instances)" = 0 ] || fail "$fs: stored below min_free_mb"
    ok "$fs: below min_free_mb: 0xA700 with the reason logged, nothing stored"
    stop_node
    rm -rf "$DATA"
}

mount -t tmpfs -o size=160m tmpfs "$SMALL" || skip "cannot mount tmpfs here"
scenarios tmpfs
umount "$SMALL" || fail "umount tmpfs"

if command -v mkfs.ext4 >/dev/null && truncate -s 192M "$WORK/ext4.img" &&
    mkfs.ext4 -q -F -m 0 "$WORK/ext4.img" && mount -o loop "$WORK/ext4.img" "$SMALL"; then
    scenarios ext4
    umount "$SMALL" || fail "umount ext4"
else
    ok "ext4: no loop mount here, only tmpfs tested"
fi
