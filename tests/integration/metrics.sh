#!/bin/bash
# The HTTP endpoint (issue 16, first part): /healthz answers 200 "ok", and
# 503 with the reason when free space is below min_free_mb; /metrics is
# valid Prometheus text (every sample line parses, every family has TYPE
# before its samples, histogram buckets are cumulative) and counts what
# happened: a series of 28 C-STOREs on one released association, a refused
# association, the stored objects and bytes, the jobs by state, the outbox
# per destination.  GET only; unknown paths 404.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu echoscu curl python3
need_shared
HP=$(free_port); DOWN=$(free_port)
write_conf "check_calling_ae = yes" "[reconstruct]
settle_seconds = 1
[http]
port = $HP
[peer sender]
ae_title = STORESCU
host = 127.0.0.1
port = 104
[peer echoscu]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104
[peer down]
ae_title = DOWN
host = 127.0.0.1
port = $DOWN
[route all]
reconstruct = no
forward_to = down"
start_node
api=http://127.0.0.1:$HP
[ "$(curl -s -o "$WORK/h" -w '%{http_code}' "$api/healthz")" = 200 ] && [ "$(cat "$WORK/h")" = ok ] ||
    fail "healthz: $(cat "$WORK/h")"
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SHARED"/data/ct/ge-tilt-28/* || fail "storescu"
echoscu -aet STRANGER -aec ISONODE 127.0.0.1 "$PORT" 2>/dev/null && fail "a stranger was accepted"
wait_jobs_done 1 60 || fail "job"
sleep 2
curl -sf "$api/metrics" > "$WORK/metrics" || fail "GET /metrics"
python3 - "$WORK/metrics" <<'PY' || fail "/metrics: $(head -20 "$WORK/metrics")"
import re, sys
text = open(sys.argv[1]).read()
samples, types = {}, {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+]+|\+Inf|NaN)$')
for line in text.splitlines():
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert name not in types, "TYPE twice: " + name
        types[name] = kind
        continue
    if line.startswith("# HELP ") or not line:
        continue
    m = line_re.match(line)
    assert m, "not a sample line: " + line
    name = m.group(1)
    family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
    assert family in types, "no TYPE before " + line
    samples[name + (m.group(2) or "")] = float(m.group(3))
def v(key):
    assert key in samples, "missing " + key
    return samples[key]
assert v("isonode_up") == 1
assert v('isonode_cstore_total{status="success"}') == 28
assert v('isonode_associations_total{result="released"}') >= 1
assert v('isonode_associations_total{result="rejected"}') == 1
assert v("isonode_associations_open") == 0
assert v("isonode_received_bytes_total") > 14e6
assert v("isonode_stored_objects") == 28 and v("isonode_stored_bytes") > 14e6
assert v("isonode_free_bytes") > 0
assert v('isonode_jobs{state="done"}') == 1
assert v('isonode_outbox_items{destination="down",state="queued"}') == 28
assert v('isonode_outbox_oldest_seconds{destination="down"}') >= 0
# the forwarding went nowhere (nothing listens on DOWN's port): counted as not sent
assert v('isonode_deliveries_total{result="not_sent"}') >= 28
assert v('isonode_deliveries_total{result="delivered"}') == 0
buckets = sorted((float("inf") if k.split('"')[1] == "+Inf" else float(k.split('"')[1]), val)
                 for k, val in samples.items() if k.startswith("isonode_ingest_latency_seconds_bucket"))
assert [b[1] for b in buckets] == sorted(b[1] for b in buckets), "buckets not cumulative"
assert buckets[-1][1] == v("isonode_ingest_latency_seconds_count") == 28
print("%d samples, %d families" % (len(samples), len(types)))
PY
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$api/metrics")" = 405 ] || fail "POST allowed"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/nothing")" = 404 ] || fail "unknown path"
stop_node
ok "/healthz ok; /metrics parses as Prometheus text and counts 28 C-STOREs, the released and the rejected association, 28 stored objects, the job, the 28 queued deliveries; POST 405, unknown 404"

# not enough free space: 503 with the reason
sed -i 's/^\[node\]$/[node]\nmin_free_mb = 1073741823/' "$CONF"
sed -i '0,/^min_free_mb = 1073741823$/!{/^min_free_mb = 1073741823$/d}' "$CONF"
start_node
code=$(curl -s -o "$WORK/h" -w '%{http_code}' "$api/healthz")
[ "$code" = 503 ] && grep -q "MB free, below min_free_mb 1073741823" "$WORK/h" || fail "healthz with no space: $code $(cat "$WORK/h")"
stop_node
ok "/healthz answers 503 with the reason when free space is below min_free_mb"

# a token: required when bound beyond the loopback, checked when set
sed -i '/^min_free_mb = 1073741823$/d' "$CONF"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
sed -i "s|^port = $HP\$|port = $HP\ntoken_file = $WORK/token|" "$CONF"
start_node
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/metrics")" = 401 ] || fail "no token, not 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-of-some-length" "$api/metrics")" = 401 ] ||
    fail "a wrong token, not 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/token")" "$api/healthz")" = 200 ] ||
    fail "the token, not 200"
stop_node
sed -i "/^token_file = /d; s|^\[http\]\$|[http]\nbind = 0.0.0.0|" "$CONF"
rc=0
timeout 10 "$ISONODED" -c "$CONF" > "$WORK/bind.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "\[http\] bind 0.0.0.0 is not a loopback address: set \[http\] token_file" "$WORK/bind.log" ||
    fail "bound beyond the loopback without a token: exit $rc, $(tail -2 "$WORK/bind.log")"
ok "[http] token_file: requests without the token get 401; binding beyond the loopback without one is refused at start"

