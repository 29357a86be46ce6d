#!/bin/bash
# The status page (issue 16), in a real browser.  A de-identifying node with
# [http] on receives a CT series (ge-tilt-28) and reconstructs it; then:
#  - /status.json says what happened: 28 objects in the last hour, the job
#    done with its result, the retention thresholds, the reconstruction with
#    its views;
#  - /thumb/JOB/K.png is a small PNG of a rendered view (from the store's
#    de-identified Secondary Capture); nothing else is served under /thumb;
#  - headless Chromium (Debian's chromium) loads / and runs its script: the
#    DOM (--dump-dom) holds the job as done, the de-identified series UID,
#    one thumbnail per view, every one decoded, and no original identifier
#    of the series (patient name and ID, study, series and instance UIDs);
#    a screenshot is kept as tests/artifacts/status_page.png;
#  - with [http] token_file, the page and its data need the token: 401 with
#    a Basic challenge without it, 200 with it as bearer or as password,
#    and the browser given it in the URL loads the page whole.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need storescu curl python3 dcmdump
need_shared
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "chromium not installed"
SERIES=$SHARED/data/ct/ge-tilt-28
HP=$(free_port)
ANONYMIZE=yes write_conf "" "[reconstruct]
settle_seconds = 1
[http]
port = $HP
[retention]
keep_days = 3650
high_water_percent = 97
low_water_percent = 95"
start_node
api=http://127.0.0.1:$HP
storescu -aec ISONODE 127.0.0.1 "$PORT" "$SERIES"/* || fail "storescu"
wait_jobs_done 1 120 || fail "the job did not finish"

# ---- /status.json ----
curl -sf "$api/status.json" > "$WORK/status.json" || fail "GET /status.json"
python3 - "$WORK/status.json" <<'PY' || fail "status.json: $(head -c 1500 "$WORK/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["node"]["ae_title"] == "ISONODE" and s["node"]["deidentifying"] is True
assert s["node"]["uptime_seconds"] >= 0
st = s["store"]
assert st["retention"] == {"keep_days": 3650, "high_water_percent": 97, "low_water_percent": 95}, st
assert 0 < st["used_percent"] <= 100 and st["free_bytes"] > 0 and st["studies"] == 1
# 28 received plus the results the job stored
assert st["objects"] > 28, st
ing = s["ingest"]
assert len(ing["hourly_objects"]) == 24 and ing["hourly_objects"][-1] == ing["last_hour_objects"]
assert ing["last_hour_objects"] >= 28, ing
jobs = s["jobs"]
assert [j["state"] for j in jobs["latest"]] == ["done"], jobs["latest"]
assert jobs["latest"][0]["result"].startswith("reconstructed 2 surfaces"), jobs["latest"][0]
assert len(jobs["hourly"]) == 24 and jobs["hourly"][-1]["jobs"] == 1
# queued and finished are whole seconds; the run time is not
h = jobs["hourly"][-1]
assert h["mean_seconds"] > 0 and h["mean_latency"] >= h["mean_seconds"] - 1, h
r = s["reconstructions"]
assert len(r) == 1 and r[0]["job"] == 1 and r[0]["series"] == jobs["latest"][0]["SeriesInstanceUID"]
assert r[0]["views"] >= 2, r
print(r[0]["views"], "views")
PY
VIEWS=$(json_get "$WORK/status.json" 'r["reconstructions"][0]["views"]')
DEID_SERIES=$(json_get "$WORK/status.json" 'r["reconstructions"][0]["series"]')

# ---- /thumb ----
for k in $(seq "$VIEWS"); do
    code=$(curl -s -o "$WORK/view$k.png" -w '%{http_code} %{content_type}' "$api/thumb/1/$k.png")
    [ "$code" = "200 image/png" ] || fail "view $k: $code"
done
python3 - "$WORK/view1.png" <<'PY' || fail "view 1 is not a small, non-blank PNG"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", data[16:24])
assert 32 <= w <= 160 and 32 <= h <= 160, (w, h)
# decode IDAT (filter 0 rows) and check the picture is not one flat colour
idat, p = b"", 8
while p < len(data):
    n = struct.unpack(">I", data[p:p + 4])[0]
    if data[p + 4:p + 8] == b"IDAT":
        idat += data[p + 8:p + 8 + n]
    p += 12 + n
raw = zlib.decompress(idat)
px = set(raw[y * (w * 3 + 1) + 1 + x * 3: y * (w * 3 + 1) + 4 + x * 3] for y in range(h) for x in range(w))
assert len(px) > 16, "%d colours" % len(px)
print("%dx%d, %d colours" % (w, h, len(px)))
PY
for bad in "thumb/1/$((VIEWS + 1)).png" "thumb/2/1.png" "thumb/1/1.png/x" "thumb/1/../../index.sqlite" \
    "thumb/-1/1.png" "thumb/1/0.png" "index.sqlite"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$api/$bad")
    [ "$code" = 404 ] || fail "/$bad answered $code, not 404"
done
ok "status.json says what happened; $VIEWS views served as PNG thumbnails; nothing else under /thumb"

# ---- the page in Chromium ----
chrome() {
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-dev-shm-usage --user-data-dir="$WORK/chrome" "$@" 2>>"$WORK/chrome.log"
}
chrome --virtual-time-budget=20000 --dump-dom "$api/" > "$WORK/dom.html" || fail "chromium: $(tail -5 "$WORK/chrome.log")"
ARTIFACTS=$top_builddir/tests/artifacts
mkdir -p "$ARTIFACTS"
chrome --virtual-time-budget=20000 --window-size=1280,1500 --hide-scrollbars \
    --screenshot="$ARTIFACTS/status_page.png" "$api/" >/dev/null || fail "chromium screenshot"
[ "$(stat -c %s "$ARTIFACTS/status_page.png")" -gt 20000 ] || fail "the screenshot is too small"
# what the store was sent: none of it may be on the page
ORIGINALS=$WORK/originals
for f in "$SERIES"/*; do
    dcmdump -q +P PatientName +P PatientID +P StudyInstanceUID +P SeriesInstanceUID \
        +P SOPInstanceUID "$f"
done | sed -n 's/^[^[]*\[\([^]]*\)\].*/\1/p' | sort -u | grep -v '^$' > "$ORIGINALS"
[ "$(wc -l < "$ORIGINALS")" -ge 30 ] || fail "could not read the originals' identifiers"
python3 - "$WORK/dom.html" "$DEID_SERIES" "$VIEWS" "$ORIGINALS" <<'PY' || fail "the page: see $WORK/dom.html"
import html.parser, sys
dom, series, views, originals = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3]), sys.argv[4]
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.jobs = []; self.thumbs = []; self.body = {}; self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-job" in a: self.jobs.append(a)
        if tag == "img" and "thumb" in a.get("class", ""): self.thumbs.append(a)
        if tag == "body": self.body = a
    def handle_data(self, d): self.text.append(d)
p = P(); p.feed(dom)
assert "data-loaded" in p.body, "the script did not finish: %s" % p.body
assert p.body.get("data-images-broken") == "0", p.body
assert p.body.get("data-images-loaded") == str(views), p.body
assert [(j["data-job"], j["data-state"]) for j in p.jobs] == [("1", "done")], p.jobs
text = " ".join(p.text)
assert series in text, "the de-identified series UID is not on the page"
assert "reconstructed 2 surfaces" in text and "de-identifying" in text
assert "ISONODE" in text and "97" in text
assert len(p.thumbs) == views and all(t["src"].endswith("/thumb/1/%d.png" % (k + 1)) for k, t in enumerate(p.thumbs)), p.thumbs
leaked = [o for o in open(originals).read().split("\n") if o and o in dom]
assert not leaked, "original identifiers on the page: %s" % leaked[:3]
print("%d job row, %d thumbnails decoded, %d original identifiers absent" % (len(p.jobs), len(p.thumbs), len(open(originals).read().split())))
PY
ok "Chromium renders the page: the job done, the de-identified series, $VIEWS thumbnails decoded, no original identifier; screenshot in tests/artifacts/status_page.png"

# ---- with a token ----
stop_node
TOKEN=0123456789abcdef-status-page-token
printf '%s\n' "$TOKEN" > "$WORK/token"
chmod 600 "$WORK/token"
sed -i "s|^\[http\]$|[http]\ntoken_file = $WORK/token|" "$CONF"
start_node
hdr=$(curl -s -D - -o /dev/null "$api/")
case "$hdr" in *"401"*) ;; *) fail "no token: $hdr" ;; esac
case "$hdr" in *'WWW-Authenticate: Basic realm="isonode"'*) ;; *) fail "no Basic challenge: $hdr" ;; esac
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "x:wrong-token-0123456" "$api/status.json")" = 401 ] || fail "a wrong password was let in"
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "operator:$TOKEN" "$api/status.json")" = 200 ] || fail "the token as password was refused"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$api/thumb/1/1.png")" = 200 ] || fail "the bearer token was refused"
chrome --virtual-time-budget=20000 --dump-dom "http://operator:$TOKEN@127.0.0.1:$HP/" > "$WORK/dom-token.html" || fail "chromium with the token"
grep -q 'data-images-broken="0"' "$WORK/dom-token.html" && grep -q 'data-state="done"' "$WORK/dom-token.html" ||
    fail "the page with the token did not load whole: $(grep -o '<body[^>]*>' "$WORK/dom-token.html")"
ok "with token_file: 401 and a Basic challenge without the token, 200 with it as bearer or password; Chromium given it loads the page whole"
