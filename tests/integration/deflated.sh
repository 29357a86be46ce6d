#!/bin/bash
# Deflated explicit VR little endian: stored exactly as received (still
# deflated), and its attributes indexed from the inflated data set.
. "$top_srcdir/tests/lib/common.sh"
need storescu dcmconv dcmodify dcmdump python3
need_shared
dcmconv +td "$SHARED/data/ts/1.dcm" "$WORK/deflated.dcm" || fail "dcmconv +td"
dcmodify -nb -gin "$WORK/deflated.dcm" || fail "dcmodify"
uid=$(dcmdump -s -Un +P 0008,0018 "$WORK/deflated.dcm" | sed 's/.*\[\(.*\)\].*/\1/')
series=$(dcmdump -s -Un +P 0020,000e "$WORK/deflated.dcm" | sed 's/.*\[\(.*\)\].*/\1/')
write_conf
start_node
storescu -xd -aec ISONODE 127.0.0.1 "$PORT" "$WORK/deflated.dcm" || fail "storescu -xd"
set -- $(node ls instances "SOPInstanceUID=$uid" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)[0]
print(r["Path"], r["TransferSyntaxUID"], r["SeriesInstanceUID"])')
[ "$2" = 1.2.840.10008.1.2.1.99 ] || fail "stored as $2"
[ "$3" = "$series" ] || fail "series '$3' indexed, data set has '$series'"
python3 "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$DATA/$1" "$WORK/deflated.dcm" \
    || fail "stored deflated data set differs"
node verify >/dev/null || fail "verify"
ok "deflated object stored byte-identical, attributes indexed from its inflated data set"
stop_node
