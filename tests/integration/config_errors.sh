#!/bin/bash
# Configuration mistakes stop start-up with FILE:LINE and a reason.
. "$top_srcdir/tests/lib/common.sh"
expect_error() { # description, file content, expected message regexp
    printf '%b\n' "$2" > "$WORK/bad.conf"
    local out rc=0
    out=$("$ISONODED" -c "$WORK/bad.conf" --dump-config 2>&1) || rc=$?
    [ "$rc" = 2 ] || fail "$1: exit $rc, expected 2"
    echo "$out" | grep -Eq "$3" || fail "$1: message '$out' does not match '$3'"
    ok "$1: $out"
}
expect_error "unknown key" "[node]\nport = 104\nportt = 105" "bad.conf:3: unknown key 'portt' in \\[node\\]"
expect_error "unknown section" "[node]\nport = 104\n[nodes]\nx = 1" "bad.conf:4: unknown section \\[nodes\\]"
expect_error "port out of range" "[node]\nport = 70000" "bad.conf:2: port: 70000 is outside 0..65535"
expect_error "not an integer" "[node]\nmax_associations = many" "bad.conf:2: max_associations: 'many' is not an integer"
expect_error "bad enum" "[node]\nduplicates = overwrite" "duplicates: 'overwrite' is not one of keep\\|replace"
expect_error "bad bool" "[node]\ncheck_host = perhaps" "check_host: 'perhaps' is not yes/no"
expect_error "incomplete peer" "[peer pacs]\nae_title = PACS\nhost = 10.0.0.1" "\\[peer pacs\\] needs port"
expect_error "surface without iso" "[surface bone]\nmodality = CT" "\\[surface bone\\] needs iso"
expect_error "duplicate peer AE" "[peer a]\nae_title = X\nhost = h\nport = 1\n[peer b]\nae_title = X\nhost = h\nport = 2" "share ae_title X"
expect_error "bad AE title" "[node]\nae_title = BAD\\\\AE" "not a valid AE title"
"$ISONODED" -c "$WORK/none.conf" 2>&1 | grep -q 'none.conf: No such file' || fail "missing file message"
ok "missing file reported"
