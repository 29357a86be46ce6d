#!/bin/bash
# Every configuration key in the code's table is documented in
# man/isonode.conf.5 (as a .TP entry in its section), and the page documents
# no key the code does not have.
. "$top_srcdir/tests/lib/common.sh"
page=$top_srcdir/man/isonode.conf.5
"$ISONODED" --list-keys > "$WORK/keys" || fail "--list-keys"
[ "$(wc -l < "$WORK/keys")" -ge 10 ] || fail "too few keys listed"
while read -r section key; do
    awk -v s="$section" -v k="$key" '
        /^\.SH/ { insec = ($0 ~ "\\[" s) }
        insec && prev ~ /^\.TP/ && $0 ~ "^\\.B " k "$" { found = 1 }
        { prev = $0 } END { exit !found }' "$page" || fail "[$section] $key is not documented in isonode.conf.5"
done < "$WORK/keys"
ok "every key of the table is documented in isonode.conf.5"
grep -A1 '^\.TP' "$page" | grep '^\.B ' | awk '{print $2}' | sort -u > "$WORK/doc_keys"
awk '{print $2}' "$WORK/keys" | sort -u > "$WORK/code_keys"
extra=$(comm -23 "$WORK/doc_keys" "$WORK/code_keys")
[ -z "$extra" ] || fail "documented but not in the code: $extra"
ok "the page documents no unknown key"
"$ISONODED" --dump-config > "$WORK/dump.conf" || fail "--dump-config"
"$ISONODED" -c "$WORK/dump.conf" --dump-config > "$WORK/dump2.conf" || fail "dumped config does not load"
diff <(grep -v '^# effective' "$WORK/dump.conf") <(grep -v '^# effective' "$WORK/dump2.conf") || fail "dump round trip"
"$ISONODED" -c "$top_srcdir/etc/isonode.conf" --dump-config > /dev/null || fail "etc/isonode.conf does not load"
ok "--dump-config output loads and round-trips; etc/isonode.conf loads"
# every configuration example in the page loads
python3 - "$page" "$ISONODED" "$WORK" <<'PY' || fail "an example in isonode.conf.5 does not load"
import re, subprocess, sys
page, isonoded, work = sys.argv[1:]
n = 0
for i, blk in enumerate(re.findall(r"^\.EX\n(.*?)^\.EE", open(page).read(), re.S | re.M)):
    if not blk.lstrip().startswith("["):
        continue  # not a configuration (e.g. an error message)
    text = blk.replace("\\-", "-").replace("data_dir = /var/lib/isonode", "data_dir = " + work)
    path = "%s/example%d.conf" % (work, i)
    open(path, "w").write(text)
    r = subprocess.run([isonoded, "-c", path, "--dump-config"], capture_output=True, text=True)
    assert r.returncode == 0, (text, r.stderr)
    n += 1
print("%d examples load" % n)
PY
ok "the page's examples load"
