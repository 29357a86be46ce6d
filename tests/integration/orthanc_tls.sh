#!/bin/bash
# The unattended round trip with Orthanc, over DICOM TLS only, mutually
# authenticated: the node listens on its TLS port alone (port = 0); Orthanc
# (DicomTlsEnabled, a client certificate the node binds to its AE title)
# sends a study; the node de-identifies and reconstructs it and returns the
# derived series over TLS to Orthanc, which requires the node's client
# certificate.  The results land in the same patient and study.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/lib/orthanc.sh"
. "$top_srcdir/tests/lib/certs.sh"
. "$top_srcdir/tests/lib/e2e.sh"
need Orthanc curl openssl echoscu
need_pydicom
P=$WORK/pki
make_pki "$P" || fail "making the test certificates"
$PY "$top_srcdir/tests/lib/phantom.py" write sphere axial "$WORK/src" || fail "phantom"
HP=$(free_port); DP=$(free_port); TLS_PORT=$(free_port)
orthanc_sha=$(cert_sha256 "$P/peer.pem")
write_conf "tls_port = $TLS_PORT\ncheck_calling_ae = yes" \
"[tls]
certificate = $P/node.pem
private_key = $P/node.key
ca_file = $P/ca.pem
[reconstruct]
settle_seconds = 1
[surface ball]
modality = CT
iso = 500
[peer probe]
ae_title = ECHOSCU
host = 127.0.0.1
port = 104
[peer orthanc]
ae_title = ORTHANC
host = 127.0.0.1
port = $DP
tls = yes
client_certificate_sha256 = $orthanc_sha"
sed -i -e 's/^enabled = no/enabled = yes/' -e "s/^port = $PORT\$/port = 0/" "$CONF"
orthanc_json() {
    cat > "$WORK/orthanc.json" <<J
{ "Name": "isonode-tls-test", "StorageDirectory": "$WORK/orthanc", "IndexDirectory": "$WORK/orthanc",
  "DicomAet": "ORTHANC", "DicomPort": $DP, "HttpPort": $HP, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "OverwriteInstances": true, "Plugins": [],
  "DicomTlsEnabled": true, "DicomTlsCertificate": "$P/peer.pem", "DicomTlsPrivateKey": "$P/peer.key",
  "DicomTlsTrustedCertificates": "$P/ca.pem", "DicomTlsRemoteCertificateRequired": true,
  "DicomModalities": { "isonode": { "AET": "ISONODE", "Host": "127.0.0.1", "Port": $TLS_PORT,
                                    "UseDicomTls": true } } }
J
}
start_orthanc orthanc_json
"$ISONODED" -c "$CONF" >> "$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 100); do
    echoscu -to 2 -aec ISONODE +tls "$P/mod1.key" "$P/mod1.pem" +cf "$P/ca.pem" 127.0.0.1 "$TLS_PORT" \
        > /dev/null 2>&1 && break
    kill -0 "$NODE_PID" 2>/dev/null || fail "isonoded exited at start"
    sleep 0.1
done
grep -q "listening on 0.0.0.0 (TLS port $TLS_PORT only)" "$WORK/node.log" || fail "not TLS-only"
curl -sf -X POST "$api/modalities/isonode/echo" -d '{}' > /dev/null ||
    fail "Orthanc cannot C-ECHO the node over TLS: $(tail -5 "$WORK/orthanc.log")"
for f in "$WORK/src"/*.dcm; do
    curl -sf -X POST "$api/instances" --data-binary @"$f" > /dev/null || fail "upload $f to Orthanc"
done
study=$(curl -sf "$api/studies" | python3 -c 'import json,sys; s=json.load(sys.stdin); assert len(s) == 1; print(s[0])') \
    || fail "Orthanc has no single study"
patient=$(curl -sf "$api/studies/$study" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ParentPatient"])')
curl -sf -X POST "$api/modalities/isonode/store" -d "$study" > "$WORK/store.json" \
    || fail "Orthanc could not send the study over TLS: $(tail -5 "$WORK/orthanc.log")"
for _ in $(seq 300); do
    n=$(curl -sf "$api/studies/$study" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Series"]))')
    [ "$n" -ge 6 ] && break
    sleep 0.2
done
grep -q "association ORTHANC -> ISONODE from 127.0.0.1 over TLSv1.[23] .* released .* stored" "$WORK/node.log" ||
    fail "Orthanc's association was not over TLS"
curl -sf "$api/studies/$study" > "$WORK/study.json"
curl -sf "$api/patients" > "$WORK/patients.json"
python3 - "$WORK/study.json" "$WORK/patients.json" "$api" "$patient" <<'PY' || fail "Orthanc's view of the results"
import json, sys, urllib.request
study, patients, api, patient = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
assert patients == [patient], "results made another patient: %s" % patients
mods = sorted(json.load(urllib.request.urlopen("%s/series/%s" % (api, s)))["MainDicomTags"].get("Modality")
              for s in study["Series"])
print("Orthanc study:", mods)
assert mods == ["CT", "M3D", "OT", "OT", "SEG", "SEG"], mods
PY
node outbox list --json | python3 -c '
import json,sys; r=json.load(sys.stdin); assert r and all(x["state"]=="sent" and x["destination"]=="orthanc" for x in r), r' \
    || fail "deliveries to Orthanc not all sent"
ok "Orthanc sent a study over TLS (its certificate bound to its AE title) and got the derived series back over TLS, in the same patient and study"

# a certificate Orthanc does not trust: the node's deliveries fail, and say why
kill -TERM "$NODE_PID"; wait "$NODE_PID" || fail "isonoded did not stop cleanly"
sed -i "s|^certificate = .*|certificate = $P/selfsigned.pem|; s|^private_key = .*|private_key = $P/selfsigned.key|" "$CONF"
node echo orthanc > "$WORK/echo.out" 2>&1 && fail "Orthanc accepted an untrusted client certificate"
grep -q 'isonode echo: cannot associate with ORTHANC' "$WORK/echo.out" || fail "echo: $(cat "$WORK/echo.out")"
ok "Orthanc refuses the node's association when the node's client certificate is not one it trusts"
kill "$ORTHANC_PID" 2>/dev/null; wait "$ORTHANC_PID" 2>/dev/null || true
