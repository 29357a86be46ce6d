#!/bin/bash
# C-MOVE and C-GET SCP against DCMTK's movescu and getscu (issue 14): a series, a
# study, a list of instances and a patient moved to storescp (a configured
# [peer]) arrive byte for byte as stored; the final response counts the
# sub-operations; an unknown destination gets A801 and nothing is sent; a
# peer without retrieve = yes gets 0124; a destination that is down gets
# A702 with the failed count; each with its log line.
. "$top_srcdir/tests/lib/common.sh"
need storescu movescu getscu storescp dcmdump python3
need_shared
dest_port=$(free_port)
down_port=$(free_port)
mkdir -p "$WORK/dest"
storescp -aet DEST +xa -od "$WORK/dest" "$dest_port" > "$WORK/dest.log" 2>&1 &
# no series settles during the test: the store holds only what it sent
write_conf "check_calling_ae = yes" "[reconstruct]
settle_seconds = 86400
[peer mover]
ae_title = MOVESCU
host = 127.0.0.1
port = 104
retrieve = yes
[peer sender]
ae_title = STORESCU
host = 127.0.0.1
port = 104
[peer echoscu]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104
[peer dest]
ae_title = DEST
host = 127.0.0.1
port = $dest_port
[peer down]
ae_title = DOWN
host = 127.0.0.1
port = $down_port"
start_node
CT_DIR="$SHARED/data/ct/ge-tilt-28"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$CT_DIR"/* || fail "storescu ct"
first=$(ls "$CT_DIR"/* | head -1)
tag() { dcmdump -s +P "$2" "$1" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }
study=$(tag "$first" 0020,000D); series=$(tag "$first" 0020,000E); pid=$(tag "$first" 0010,0020)
ct_n=$(ls "$CT_DIR" | wc -l)

# same_as_stored DIR WHAT: every file in DIR is a stored CT object, unchanged
same_as_stored() {
    for f in "$1"/*; do
        uid=$(tag "$f" 0008,0018)
        orig=$(grep -l "$uid" "$CT_DIR"/* | head -1)
        python3 "$top_srcdir/tests/lib/dicomtool.py" same-dataset "$f" "$orig" || fail "$uid changed ($2)"
    done
}
move() { # DESTINATION MODEL KEYS...: movescu's output in $WORK/move.log
    movescu "$2" -aec ISONODE -aem "$1" "${@:3}" 127.0.0.1 "$PORT" > "$WORK/move.log" 2>&1
}
received() { find "$WORK/dest" -type f | wc -l; }

move DEST -S -k QueryRetrieveLevel=SERIES -k StudyInstanceUID="$study" -k SeriesInstanceUID="$series" ||
    fail "movescu series: $(tail -3 "$WORK/move.log")"
[ "$(received)" = "$ct_n" ] || fail "destination received $(received) of $ct_n"
same_as_stored "$WORK/dest" C-MOVE
grep -q "C-MOVE SERIES from MOVESCU to DEST: status 0x0000, $ct_n completed, 0 failed" "$WORK/node.log" ||
    fail "no C-MOVE log line"
ok "a series moved to storescp arrives as stored ($ct_n sub-operations)"

rm -f "$WORK"/dest/*
move DEST -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study" || fail "movescu study"
[ "$(received)" = "$ct_n" ] || fail "study: $(received) of $ct_n"
rm -f "$WORK"/dest/*
two=$(ls "$CT_DIR"/* | head -2 | while read -r f; do tag "$f" 0008,0018; done | paste -sd '\\')
move DEST -P -k QueryRetrieveLevel=IMAGE -k PatientID="$pid" -k StudyInstanceUID="$study" \
    -k SeriesInstanceUID="$series" -k SOPInstanceUID="$two" || fail "movescu instance list"
[ "$(received)" = 2 ] || fail "instance list: $(received) of 2"
rm -f "$WORK"/dest/*
move DEST -P -k QueryRetrieveLevel=PATIENT -k PatientID="$pid" || fail "movescu patient"
[ "$(received)" = "$ct_n" ] || fail "patient: $(received) of $ct_n"
ok "a study, a list of two instances (Patient Root IMAGE) and a patient move whole"

rm -f "$WORK"/dest/*
move NOWHERE -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study"
[ "$(received)" = 0 ] || fail "something was sent for an unknown destination"
grep -q "C-MOVE STUDY from MOVESCU to NOWHERE: status 0xa801, 0 completed, 0 failed, 0 warning: move destination 'NOWHERE' is not a configured \[peer\]" \
    "$WORK/node.log" || fail "no A801 line"
movescu -S -aet STORESCU -aec ISONODE -aem DEST -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study" \
    127.0.0.1 "$PORT" > "$WORK/move.log" 2>&1
[ "$(received)" = 0 ] || fail "a peer without retrieve = yes moved objects"
grep -q "C-MOVE STUDY from STORESCU to DEST: status 0x0124, .*: its \[peer\] does not have retrieve = yes" \
    "$WORK/node.log" || fail "no 0124 line"
move DOWN -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study"
grep -q "C-MOVE STUDY from MOVESCU to DOWN: status 0xa702, 0 completed, $ct_n failed" "$WORK/node.log" ||
    fail "no A702 line: $(grep 'C-MOVE STUDY from MOVESCU to DOWN' "$WORK/node.log")"
move DEST -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="1.2.*"
grep -q "C-MOVE STUDY from MOVESCU to DEST: status 0xa900" "$WORK/node.log" || fail "a wildcard move was not refused"
[ "$(received)" = 0 ] || fail "a wildcard move sent objects"
ok "refused with a log line each: unknown destination (A801), no retrieve permission (0124), destination down (A702, all failed), a wildcard instead of a unique key (A900)"
# C-GET: the objects come back on the requester's own association
mkdir -p "$WORK/got"
getscu -S -aet MOVESCU -aec ISONODE -od "$WORK/got" -k QueryRetrieveLevel=SERIES -k StudyInstanceUID="$study" \
    -k SeriesInstanceUID="$series" 127.0.0.1 "$PORT" > "$WORK/get.log" 2>&1 || fail "getscu: $(tail -3 "$WORK/get.log")"
[ "$(find "$WORK/got" -type f | wc -l)" = "$ct_n" ] || fail "getscu received $(find "$WORK/got" -type f | wc -l) of $ct_n"
same_as_stored "$WORK/got" C-GET
grep -q "C-GET SERIES from MOVESCU: status 0x0000, $ct_n completed, 0 failed" "$WORK/node.log" ||
    fail "no C-GET line"
rm -rf "$WORK/got"; mkdir -p "$WORK/got"
getscu -S -aet STORESCU -aec ISONODE -od "$WORK/got" -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$study" \
    127.0.0.1 "$PORT" > "$WORK/get.log" 2>&1
[ "$(find "$WORK/got" -type f | wc -l)" = 0 ] || fail "C-GET by a peer without retrieve = yes"
grep -q "C-GET STUDY from STORESCU: status 0x0124" "$WORK/node.log" || fail "no C-GET refusal line"
ok "C-GET returns a series on the requester's association as stored; without retrieve = yes it is refused (0124)"
stop_node
