#!/bin/bash
# Fuzzing the peer-facing entry points for a bounded time (FUZZ_SECONDS:
# 8 s each in make check, 120 s each in `make fuzz`): data set parsing,
# the A-ASSOCIATE-RQ check and DCMTK's parse after it, whole associations fed through a socketpair into the
# adapter, the receive module with a real store and de-identifier, image
# decoding for reconstruction (every codec) of objects that pass ingest
# parsing, and de-identification of objects received in memory.  Seeds
# include data sets nested past max_nesting and encapsulated pixel data
# with lying offset tables.  Built with clang's libFuzzer and
# AddressSanitizer from the project's sources; DCMTK itself is the Debian
# library (not instrumented, but its crashes and our memory errors are
# caught).  A crash leaves its input in the work directory and fails.
. "$top_srcdir/tests/lib/common.sh"
need python3
[ -n "${CLANG:-}" ] && command -v clang++ >/dev/null 2>&1 || skip "clang/libFuzzer not installed (apt-get install clang)"
secs=${FUZZ_SECONDS:-8}
B=$WORK/build; mkdir -p "$B"
flags="-g -O1 -fsanitize=fuzzer-no-link,address -include $top_builddir/autoconf.h -I$top_srcdir/src -I$top_builddir $OPENJP2_CFLAGS"
for f in util/err util/log util/json util/fsx util/uid util/hex util/path util/dbx config/config anon/anon anon/vault \
        anon/anon_file anon/e11_table dicom/nesting store/index store/store store/layout store/verify \
        ingest/receive net/assoc_rq tls/tls; do
    clang $flags -std=c11 -D_GNU_SOURCE -c "$top_srcdir/src/$f.c" -o "$B/$(basename $f).o" || fail "build $f.c"
done
clang $flags -std=c11 -D_GNU_SOURCE -c "$top_builddir/src/store/schema.c" -o "$B/schema.o" || fail "build schema.c"
clang $flags -std=c11 -D_GNU_SOURCE -c "$top_builddir/src/anon/vault_schema.c" -o "$B/vault_schema.o" || fail "build vault_schema.c"
for f in dcm_common dcm_transport dcm_scp dcm_scu dcm_find dcm_move dcm_commit dcm_alloc dcm_image dcm_rewrite; do
    clang++ $flags -std=c++17 -c "$top_srcdir/src/dicom/$f.cc" -o "$B/$f.o" || fail "build $f"
done
targets="dataset assoc_rq association receive image anon"
for target in $targets; do
    clang++ $flags -std=c++17 -fsanitize=fuzzer,address "$top_srcdir/tests/fuzz/fuzz_$target.cc" \
        "$B"/*.o $DCMTK_LIBS $OPENJP2_LIBS -lsqlite3 -lssl -lcrypto -linih -lpthread -o "$B/fuzz_$target" \
        || fail "link fuzz_$target"
done
python3 "$top_srcdir/tests/fuzz/make_seeds.py" "$WORK/seeds" "$SHARED" || fail "seeds"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
# the stores the targets make live in memory (fsync is cheap there)
export ISONODE_FUZZ_DIR=/dev/shm/isonode-fuzz-$$
mkdir -p "$ISONODE_FUZZ_DIR"
trap 'rm -rf "$ISONODE_FUZZ_DIR"; cleanup' EXIT
for target in $targets; do
    mkdir -p "$WORK/corpus-$target"
    len=65536
    [ "$target" = image ] && len=300000
    [ "$target" = receive ] && len=200000
    ( cd "$WORK" && "$B/fuzz_$target" -max_total_time="$secs" -max_len=$len -timeout=10 \
        -rss_limit_mb=1536 -malloc_limit_mb=1024 -print_final_stats=1 "$WORK/corpus-$target" "$WORK/seeds/$target" \
        > "$WORK/fuzz-$target.log" 2>&1 ) \
        || { tail -40 "$WORK/fuzz-$target.log"; KEEP_WORK=1; fail "fuzz_$target found a crash"; }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/fuzz-$target.log" | grep -o '[0-9]*$')
    [ "${runs:-0}" -gt 100 ] || { tail -20 "$WORK/fuzz-$target.log"; fail "fuzz_$target ran only ${runs:-0} inputs"; }
    ok "fuzz_$target: $runs inputs in ${secs}s, no crash"
done
