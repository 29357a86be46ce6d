#!/bin/bash
# Series the engine must refuse: each gets exit status 3, a one-line reason
# on stderr and in report.json, no STL, and no crash.  Plus a directory of
# non-DICOM files and a missing directory.
. "$top_srcdir/tests/lib/common.sh"
need_pydicom
PH="$PY $top_srcdir/tests/lib/phantom.py"
for case in single localizer mixed-orientation mixed-size duplicate rgb gap; do
    word=$($PH refuse "$case" "$WORK/$case") || fail "phantom.py refuse $case"
    rc=0
    "$ISONODE" reconstruct "$WORK/$case" --out "$WORK/out-$case" --quiet 2> "$WORK/err-$case" || rc=$?
    [ "$rc" -eq 3 ] || fail "$case: exit $rc, want 3 ($(cat "$WORK/err-$case"))"
    [ "$(wc -l < "$WORK/err-$case")" -eq 1 ] || fail "$case: not one line: $(cat "$WORK/err-$case")"
    grep -q "refused: .*$word" "$WORK/err-$case" || fail "$case: reason '$(cat "$WORK/err-$case")' lacks '$word'"
    reason=$(json_get "$WORK/out-$case/report.json" 'r["refused"]')
    case $reason in *"$word"*) ;; *) fail "$case: report.json refused='$reason'" ;; esac
    ls "$WORK/out-$case"/*.stl >/dev/null 2>&1 && fail "$case: an STL was written"
    echo "$case: $(cat "$WORK/err-$case")"
done
ok "single slice, only localizers, mixed orientations, mixed sizes, two images at one position nothing tells apart, RGB, 25 mm gap: refused with a reason"

# a gap limit is configurable: the 25 mm gap passes with --max-gap 30
"$ISONODE" reconstruct "$WORK/gap" --out "$WORK/out-gap30" --max-gap-mm 30 --iso 500 --no-render --quiet \
    || fail "--max-gap-mm 30 did not accept the 25 mm gap"
ok "--max-gap-mm moves the gap limit"

mkdir -p "$WORK/junk"
head -c 5000 /dev/urandom > "$WORK/junk/a.dcm"
printf 'not dicom' > "$WORK/junk/b.txt"
rc=0
"$ISONODE" reconstruct "$WORK/junk" --out "$WORK/out-junk" --quiet 2> "$WORK/err-junk" || rc=$?
[ "$rc" -eq 3 ] || fail "junk directory: exit $rc"
grep -q "no images" "$WORK/err-junk" || fail "junk: $(cat "$WORK/err-junk")"
rc=0
"$ISONODE" reconstruct "$WORK/nonexistent" --out "$WORK/out-none" --quiet 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "missing directory: exit $rc"
ok "non-DICOM files are skipped and reported; a missing directory is an error"
