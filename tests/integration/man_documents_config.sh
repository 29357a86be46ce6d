#!/bin/bash
# The configuration's docs are written from the key table at build time
# (tools/confdoc): check what was written against the table as the daemon
# has it -- every key documented in its own section with its type, bounds or
# choices and default, no key the table lacks; the reference configuration
# lists every key of the singleton sections with its default.
. "$top_srcdir/tests/lib/common.sh"
page=$top_builddir/man/isonode.conf.5
reference=$top_builddir/etc/isonode.conf
[ -f "$page" ] && [ -f "$reference" ] || fail "the generated page or reference configuration is missing"
"$top_builddir/tools/confdoc" keys > "$WORK/table" || fail "confdoc keys"
"$ISONODED" --list-keys > "$WORK/keys" || fail "--list-keys"
[ "$(wc -l < "$WORK/keys")" -ge 10 ] || fail "too few keys listed"
diff <(cut -f1,2 "$WORK/table" | tr '\t' ' ') "$WORK/keys" > /dev/null || fail "the daemon's keys differ from the generator's table"
python3 - "$WORK/table" "$page" "$reference" <<'PY' || fail "the docs differ from the table"
import re, sys
table = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
page = open(sys.argv[2]).read().split("\n")
def unescape(t):
    return t.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
documented, section = {}, None
for i, line in enumerate(page):
    m = re.match(r"^\.SH \[(\w+)", line)
    if line.startswith(".SH"):
        section = m.group(1) if m else None
    if section and line == ".TP" and re.match(r"^\.B \w+$", page[i + 1]):
        j = i + 2
        while page[j] != ".br":
            j += 1
        documented[(section, page[i + 1].split()[1])] = unescape(page[j + 1])
singletons = {"node", "reconstruct", "anonymize", "outbox"}
ref, sec = {}, None
for line in open(sys.argv[3]):
    line = line.rstrip("\n")
    m = re.match(r"^\[(\w+)\]$", line)
    if m:
        sec = m.group(1)
    m = re.match(r"^#?(\w+) = (.*)$", line)
    if m and sec in singletons:
        ref[(sec, m.group(1))] = (line.startswith("#"), m.group(2))
bad = []
for section, key, typ, default in table:
    want = "Type: %s. Default: %s." % (typ, default)
    got = documented.pop((section, key), None)
    if got != want:
        bad.append("[%s] %s: page says %r, table %r" % (section, key, got, want))
    if section in singletons:
        r = ref.get((section, key))
        if r is None:
            bad.append("[%s] %s is not in the reference configuration" % (section, key))
        elif r[0] and r[1] != ("" if default == "empty" else default):
            bad.append("[%s] %s: reference shows %r, default %r" % (section, key, r[1], default))
bad += ["[%s] %s is documented but not in the table" % k for k in documented]
print("\n".join(bad) if bad else "%d keys: page and reference agree with the table" % len(table))
sys.exit(1 if bad else 0)
PY
ok "the page and the reference configuration say what the table says, key by key"
"$ISONODED" --dump-config > "$WORK/dump.conf" || fail "--dump-config"
"$ISONODED" -c "$WORK/dump.conf" --dump-config > "$WORK/dump2.conf" || fail "dumped config does not load"
diff <(grep -v '^# effective' "$WORK/dump.conf") <(grep -v '^# effective' "$WORK/dump2.conf") || fail "dump round trip"
"$ISONODED" -c "$reference" --dump-config > /dev/null || fail "etc/isonode.conf does not load"
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

# isonode(1)'s options of `isonode reconstruct` against the parser: every
# option the page gives is one the parser takes, every option the usage
# lists is on the page, and a key's bounds hold on the command line too
"$ISONODE" reconstruct > /dev/null 2> "$WORK/usage" && fail "reconstruct without arguments succeeded"
page1=$top_builddir/man/isonode.1
sed -n '/^\.BI reconstruct/,/^\.SH EXIT/p' "$page1" | grep -oE '^\.BI? \\-\\-[a-z0-9\\-]+( "[^"]*")?' |
    sed -e 's/^\.BI\? //' -e 's/\\-/-/g' > "$WORK/page_options"
[ "$(wc -l < "$WORK/page_options")" -ge 15 ] || fail "too few reconstruct options on the page: $(cat "$WORK/page_options")"
while read -r opt value; do
    value=${value//\"/}
    case "$value" in
        "") arg=() ;;
        yes*) arg=(yes) ;;
        fraction) arg=(0.5) ;;
        original*) arg=(original) ;;
        *) arg=(7) ;;
    esac
    "$ISONODE" reconstruct "$opt" "${arg[@]}" > /dev/null 2> "$WORK/opt.err" || true
    ! grep -q "unknown option" "$WORK/opt.err" || fail "the page documents $opt, the parser does not know it"
done < "$WORK/page_options"
grep -oE '^  --[a-z0-9-]+|\(or --[a-z-]+\)' "$WORK/usage" | grep -oE -- '--[a-z0-9-]+' | sort -u > "$WORK/usage_options"
page_all=$(sed -n '/^\.BI reconstruct/,/^\.SH EXIT/p' "$page1" | sed 's/\\-/-/g')
while read -r opt; do
    grep -qE -- "(^|[ \"])$opt( |\"|$)" <<< "$page_all" || fail "the usage lists $opt, the page does not"
done < "$WORK/usage_options"
"$ISONODE" reconstruct "$WORK" --out "$WORK/r" --render-size 10 2> "$WORK/bound.err" && fail "--render-size 10 accepted"
grep -q "render_size: 10 is outside 64..4096" "$WORK/bound.err" || fail "--render-size 10: $(cat "$WORK/bound.err")"
ok "isonode(1) documents $(wc -l < "$WORK/page_options") reconstruct options, each known to the parser; the usage's $(wc -l < "$WORK/usage_options") are all on the page; bounds hold on the command line"
