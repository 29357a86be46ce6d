#!/bin/bash
# Deflated explicit VR little endian: stored exactly as received (still
# deflated), and its attributes indexed from the inflated data set.
#
# storescu deflates the data set afresh for the wire, and its deflate stream
# need not match the one dcmconv wrote to the file (both are valid), so for
# storescu the test compares inflated data sets.  Byte identity is shown
# with dicomtool.py, which sends the file's deflated bytes unchanged.
. "$top_srcdir/tests/lib/common.sh"
need storescu dcmconv dcmodify dcmdump python3
need_shared
dcmconv +td "$SHARED/data/ts/1.dcm" "$WORK/deflated.dcm" || fail "dcmconv +td"
cp "$WORK/deflated.dcm" "$WORK/raw.dcm"
dcmodify -nb -gin "$WORK/deflated.dcm" || fail "dcmodify"
dcmodify -nb -gin "$WORK/raw.dcm" || fail "dcmodify"
tag() { dcmdump -s -Un +P "$1" "$2" | sed 's/.*\[\(.*\)\].*/\1/'; }
uid=$(tag 0008,0018 "$WORK/deflated.dcm")
series=$(tag 0020,000e "$WORK/deflated.dcm")
raw_uid=$(tag 0008,0018 "$WORK/raw.dcm")
[ "$uid" != "$raw_uid" ] || fail "dcmodify -gin gave both copies one UID"
write_conf
start_node

stored() {  # UID -> "PATH TS SERIES"
    node ls instances "SOPInstanceUID=$1" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)[0]
print(r["Path"], r["TransferSyntaxUID"], r["SeriesInstanceUID"])'
}

storescu -xd -aec ISONODE 127.0.0.1 "$PORT" "$WORK/deflated.dcm" || fail "storescu -xd"
set -- $(stored "$uid")
[ "$2" = 1.2.840.10008.1.2.1.99 ] || fail "stored as $2"
[ "$3" = "$series" ] || fail "series '$3' indexed, data set has '$series'"
python3 - "$DATA/$1" "$WORK/deflated.dcm" <<'PY' || fail "inflated data sets differ"
import sys, zlib
sys.path.insert(0, __import__("os").environ["top_srcdir"] + "/tests/lib")
import dicomtool
a, b = (zlib.decompress(dicomtool.part10_dataset(p), -15) for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
ok "storescu's deflated object stored deflated; inflated, identical to the file"

st=$(python3 "$top_srcdir/tests/lib/dicomtool.py" send-file 127.0.0.1 "$PORT" "$WORK/raw.dcm" \
    --sent "$WORK/sent.bin")
[ "$st" = status=0000 ] || fail "send-file: $st"
set -- $(stored "$raw_uid")
[ "$2" = 1.2.840.10008.1.2.1.99 ] || fail "stored as $2"
python3 - "$DATA/$1" "$WORK/sent.bin" <<'PY' || fail "stored deflated data set differs from the bytes sent"
import os, sys
sys.path.insert(0, os.environ["top_srcdir"] + "/tests/lib")
import dicomtool
sys.exit(0 if dicomtool.part10_dataset(sys.argv[1]) == open(sys.argv[2], "rb").read() else 1)
PY
ok "deflated bytes sent unchanged are stored byte-identical"
node verify >/dev/null || fail "verify"
ok "attributes indexed from the inflated data set; verify passes"
stop_node
