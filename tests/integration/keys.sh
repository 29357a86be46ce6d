#!/bin/bash
# The installation key: made once with the vault, then required.  A node
# whose vault exists refuses to start without its key (it would mint new
# pseudonyms and leave the vault unreadable) or with another key (the
# vault's key check value); [anonymize] key_file keeps the key outside
# data_dir, also as a systemd credential (credential:NAME); isonode key
# prints a fingerprint that matches the key file's SHA-256.
. "$top_srcdir/tests/lib/common.sh"
need storescu
need_pydicom
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" > /dev/null || fail "phantom"
set -- "$WORK/src"/*.dcm
ANONYMIZE=yes write_conf "" "[reconstruct]\\nsettle_seconds = 86400"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$1" || fail "storescu"
stop_node
[ -f "$DATA/secret.key" ] && [ -f "$DATA/vault.sqlite" ] || fail "no key or vault after the first start"
want=$(python3 -c 'import hashlib,sys; print("SHA256:" + hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$DATA/secret.key")
node key > "$WORK/key.out" || fail "isonode key"
grep -qx "fingerprint: $want" "$WORK/key.out" || fail "fingerprint: $(cat "$WORK/key.out"), want $want"
grep -qx "key file: $DATA/secret.key" "$WORK/key.out" || fail "key file: $(cat "$WORK/key.out")"
ok "isonode key: the key file and its SHA-256 fingerprint"

mkdir -p "$WORK/keys"
mv "$DATA/secret.key" "$WORK/keys/isonode.key"
: > "$WORK/node.log"
"$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 && fail "isonoded started without its key"
grep -q "installation key .* is missing but the vault .* exists" "$WORK/node.log" || fail "no reason logged for the missing key"
[ -e "$DATA/secret.key" ] && fail "a new key was made although the vault exists"
ok "a missing key with an existing vault: the node refuses to start, makes no new key, says why"

head -c 32 /dev/urandom > "$DATA/secret.key"; chmod 600 "$DATA/secret.key"
: > "$WORK/node.log"
"$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 && fail "isonoded started with another key"
grep -q "does not match this vault" "$WORK/node.log" || fail "no reason logged for the wrong key"
rm "$DATA/secret.key"
ok "another key: the node refuses to start (the vault's key check value)"

# the key outside data_dir, by path and as a systemd credential
sed -i "s|^\\[anonymize\\]$|[anonymize]\\nkey_file = $WORK/keys/isonode.key|" "$CONF"
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$2" || fail "storescu with key_file"
stop_node
[ -e "$DATA/secret.key" ] && fail "a key was made in data_dir although key_file names one"
node key | grep -qx "fingerprint: $want" || fail "key_file: another fingerprint"
sed -i "s|^key_file = .*|key_file = credential:isonode.key|" "$CONF"
: > "$WORK/node.log"
"$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 && fail "credential:NAME started without CREDENTIALS_DIRECTORY"
grep -q "needs systemd's CREDENTIALS_DIRECTORY" "$WORK/node.log" || fail "no reason for the missing credentials directory"
export CREDENTIALS_DIRECTORY=$WORK/keys
start_node
storescu -aec ISONODE 127.0.0.1 "$PORT" "$3" || fail "storescu with a credential"
stop_node
[ "$(node key | grep fingerprint)" = "fingerprint: $want" ] || fail "credential: another fingerprint"
[ "$(count instances)" = 3 ] || fail "$(count instances) instances stored, want 3"
ok "key_file outside data_dir, by path and as credential:NAME (LoadCredential=): the same key, the same vault"

# isonode verify also checks that every de-identified series can be
# re-identified: it fails once the series' vault row is gone
node verify > "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
grep -q '^verify: 1 de-identified series, 0 without their vault rows$' "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
series=$(node ls series --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["SeriesInstanceUID"])')
python3 - "$DATA/vault.sqlite" "$series" <<'PY' || fail "deleting the series row"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("DELETE FROM vault WHERE kind = 'uid' AND pseudo = ?", (sys.argv[2],)).rowcount
db.commit()
assert n == 1, n
PY
rc=0; node verify > "$WORK/verify.out" || rc=$?
[ "$rc" = 1 ] || fail "verify exit $rc without the series' vault row: $(cat "$WORK/verify.out")"
grep -q "^vault: series $series has no readable uid row" "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
ok "isonode verify finds a de-identified series without its vault row"
