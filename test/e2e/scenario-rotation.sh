# Sourced by run_scenario (test/e2e/scenario.sh): step 7, a staged root rotation under traffic, through every
# phase: Prepared, Active, the new leaves on both sides, Retired.
# The operator runs with the shortest safe delays (E2E_OPERATOR_ARGS in scenario.sh): --rotation-propagation-delay=90s
# (the kubelet refreshes a mounted Secret within its sync period plus its cache) and --rotation-skew=30s (one
# cluster, one clock). Retired comes when the old root may leave the bundles: every leaf on the new CA and the last
# old leaf expired plus the skew, or the old root itself expired. Leaves live at least 1h (spec.duration's minimum),
# so the e2e's root (deploy step) lives only E2E_ROOT_MINUTES: the old leaves are cut to its expiry, and at that
# expiry it leaves the bundles (no certificate can chain to an expired root, so nothing that still verifies is
# refused). A client calls the server once a second with --keep-going, so a failed handshake is logged and counted
# instead of ending the loop; each call is a new connection on which both sides verify each other against the
# bundle they have mounted at that moment (the client re-reads its files for every call, the server reloads them
# when they change).
# shellcheck shell=bash

rotation_field() { kubectl -n mtls-system get configmap mtls-trust-rotation -o "jsonpath={.data.$1}" 2>/dev/null; }
rotation_phase_is() {
  local p
  p=$(rotation_field phase) && [[ $p == "$1" ]]
}
# issuer_of SECRET: the issuer of the leaf in NS/SECRET
issuer_of() {
  kubectl -n "$NS" get secret "$1" -o 'jsonpath={.data.tls\.crt}' | openssl base64 -d -A | openssl x509 -noout -issuer
}
# leaf_under_new_root SECRET OLD_ROOT_FILE: the leaf no longer verifies against the old root alone
bundle_roots() { kubectl -n "$NS" get secret "$1" -o 'jsonpath={.data.ca\.crt}' | openssl base64 -d -A | grep -c 'BEGIN CERTIFICATE'; }
leaf_on_new_root() {
  local leaf=$WORK/rot-$1.crt
  kubectl -n "$NS" get secret "$1" -o 'jsonpath={.data.tls\.crt}' | openssl base64 -d -A >"$leaf" || return 1
  ! openssl verify -CAfile "$OLD_ROOT" -partial_chain "$leaf" >/dev/null 2>&1
}
loop_text() { kubectl -n "$NS" logs job/e2e-rotation-loop --tail=-1 2>/dev/null; }
# the examples' client Deployment (a call every 5 s, no --keep-going: a failed call ends the container)
client_restart_count() { kubectl -n "$NS" get pods -l app.kubernetes.io/name=client -o 'jsonpath={range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' | awk '{ n += $1 } END { print n + 0 }'; }

step "7: root rotation under traffic"
OLD_ROOT=$WORK/old-root.crt
kubectl -n mtls-system get secret mtls-root-ca -o 'jsonpath={.data.tls\.crt}' | openssl base64 -d -A >"$OLD_ROOT"
openssl x509 -in "$OLD_ROOT" -noout >/dev/null 2>&1 || fail "Secret mtls-system/mtls-root-ca holds no readable tls.crt"
old_server=$(secret_annotation server-mtls serial)
old_client=$(secret_annotation client-mtls serial)
check "a client loop (1 call/s, --keep-going) is answered before the rotation starts"
start_client_job e2e-rotation-loop secret:client-mtls --host server.demo.svc --port 8443 --loop 0 --interval 1000 --keep-going
wait_until "$TIMEOUT" logs_match job/e2e-rotation-loop '"msg":"response"' ||
  fail "the rotation loop got no first answer" "kubectl -n $NS describe pods -l job-name=e2e-rotation-loop"
ok "the loop is answered"
left=$(( $(date -u -d "$ROOT_NOT_AFTER" +%s) - $(date -u +%s) ))
echo "    the old root expires in ${left}s ($ROOT_NOT_AFTER)"
((left > 180)) || fail "the e2e's root expires in ${left}s: too soon for Prepared (90s) and the new leaves; raise E2E_ROOT_MINUTES (now $ROOT_MINUTES)"
rot_started=$SECONDS
rot_since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
client_restarts=$(client_restart_count)
kubectl -n mtls-system annotate secret mtls-root-ca mtls.dev/rotate-to=generate --overwrite | indent
check "Prepared: the new root joins every bundle"
wait_until "$TIMEOUT" rotation_phase_is Prepared ||
  fail "the rotation did not reach Prepared" "kubectl -n mtls-system get configmap mtls-trust-rotation -o yaml" \
    "kubectl -n mtls-system logs -l app.kubernetes.io/name=mtls-operator --tail=50"
wait_until "$TIMEOUT" bash -c "[[ \$(kubectl -n $NS get secret server-mtls -o 'jsonpath={.data.ca\\.crt}' | openssl base64 -d -A | grep -c 'BEGIN CERTIFICATE') -ge 2 ]]" ||
  fail "Secret $NS/server-mtls's ca.crt did not get the new root"
ok "Prepared after $((SECONDS - rot_started)) s; server-mtls's ca.crt holds $(bundle_roots server-mtls) roots"
check "Active: the new CA signs (after the propagation delay)"
wait_until $((TIMEOUT + 120)) rotation_phase_is Active ||
  fail "the rotation did not reach Active" "kubectl -n mtls-system get configmap mtls-trust-rotation -o yaml"
ok "Active after $((SECONDS - rot_started)) s: $(rotation_field message)"
check "every leaf is re-issued by the new CA (server-mtls, client-mtls)"
for s in server-mtls client-mtls; do
  wait_until "$TIMEOUT" leaf_on_new_root "$s" ||
    fail "Secret $NS/$s still holds a leaf of the old root" "kubectl -n mtls-system get configmap mtls-trust-rotation -o yaml"
done
new_server=$(secret_annotation server-mtls serial)
new_client=$(secret_annotation client-mtls serial)
ok "server $old_server -> $new_server, client $old_client -> $new_client ($(issuer_of server-mtls))"
check "the server loads its new leaf without a restart, and the loop sees it"
wait_until "$TIMEOUT" logs_match deployment/server "\"msg\":\"certificate reloaded\".*\"serial\":\"$new_server\"" ||
  fail "the server did not reload serial $new_server" "kubectl -n $NS logs deployment/server --tail=50"
wait_until "$TIMEOUT" bash -c "kubectl -n $NS logs job/e2e-rotation-loop --tail=-1 | grep -q '\"serverSerial\":\"$new_server\".*' && kubectl -n $NS logs job/e2e-rotation-loop --tail=-1 | grep -q '\"clientSerial\":\"$new_client\"'" ||
  fail "the loop never presented the new client leaf to the new server leaf" "kubectl -n $NS logs job/e2e-rotation-loop --tail=20"
ok "calls are made with the new leaves on both sides"
check "Retired: the old root leaves every bundle (when it expires, $ROOT_NOT_AFTER), and the calls go on"
left=$(( $(date -u -d "$ROOT_NOT_AFTER" +%s) - $(date -u +%s) ))
echo "    waiting ${left}s for the old root's expiry, the loop still calling"
wait_until $((left + TIMEOUT)) rotation_phase_is Retired ||
  fail "the rotation did not reach Retired" "kubectl -n mtls-system get configmap mtls-trust-rotation -o yaml" \
    "kubectl -n mtls-system logs -l app.kubernetes.io/name=mtls-operator --tail=50"
ok "Retired after $((SECONDS - rot_started)) s: $(rotation_field message)"
reached="Prepared, Active, new leaves on both sides, Retired"
new_root=$(kubectl -n mtls-system get secret mtls-root-ca -o 'jsonpath={.data.tls\.crt}' | openssl base64 -d -A | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2)
old_fp=$(openssl x509 -in "$OLD_ROOT" -noout -fingerprint -sha256 | cut -d= -f2)
[[ -n $new_root && $new_root != "$old_fp" ]] || fail "the CA Secret mtls-system/mtls-root-ca still holds the old root after Retired"
for s in server-mtls client-mtls; do
  wait_until "$TIMEOUT" bash -c "[[ \$(kubectl -n $NS get secret $s -o 'jsonpath={.data.ca\\.crt}' | openssl base64 -d -A | grep -c 'BEGIN CERTIFICATE') -eq 1 ]]" ||
    fail "the old root is still in $s's ca.crt after Retired"
done
wait_until "$TIMEOUT" bash -c "[[ \$(kubectl -n $NS get configmap mtls-trust-bundle -o 'jsonpath={.data.ca\\.crt}' | grep -c 'BEGIN CERTIFICATE') -eq 1 ]]" ||
  fail "the old root is still in ConfigMap $NS/mtls-trust-bundle after Retired"
ok "the CA Secret holds the new root ($new_root); server-mtls, client-mtls and mtls-trust-bundle hold it alone"
check "the server reloads the one-root bundle (same leaf, serial $new_server), and the loop is answered after it"
wait_until "$TIMEOUT" logs_match deployment/server "\"msg\":\"certificate reloaded\".*\"serial\":\"$new_server\",\"previousSerial\":\"$new_server\"" ||
  fail "the server did not reload its one-root ca.crt" "kubectl -n $NS logs deployment/server --tail=50"
at=$(grep -c '"msg":"response"' <<<"$(loop_text)" || true)
wait_until 120 bash -c "(( \$(kubectl -n $NS logs job/e2e-rotation-loop --tail=-1 | grep -c '\"msg\":\"response\"') >= $at + 20 ))" ||
  fail "the loop got fewer than 20 answers after the server loaded the one-root bundle" "kubectl -n $NS logs job/e2e-rotation-loop --tail=20"
ok "the server loaded the new root alone; 20 more calls answered after it"
check "no failed handshake during the rotation"
# the whole log first, then the loop is stopped
text=$(loop_text)
kubectl -n "$NS" delete job e2e-rotation-loop --wait=false >/dev/null 2>&1 || true
calls=$(grep -c '"msg":"response"' <<<"$text" || true)
failed=$(grep -c 'demo client failed' <<<"$text" || true)
# the other sides: every handshake the server refused since the rotation began (any client), and the examples'
# client Deployment (its failures and restarts since then)
server_text=$(kubectl -n "$NS" logs deployment/server --since-time="$rot_since" --tail=-1)
refused=$(grep -c '"msg":"client refused"' <<<"$server_text" || true)
deploy_text=$(kubectl -n "$NS" logs deployment/client --since-time="$rot_since" --tail=-1 2>/dev/null || true)
deploy_calls=$(grep -c '"msg":"response"' <<<"$deploy_text" || true)
deploy_failed=$(grep -c 'demo client failed' <<<"$deploy_text" || true)
restarts=$(($(client_restart_count) - client_restarts))
printf '    ROTATION: %s calls answered, %s failed handshakes, over %s s (phases reached: %s)\n' \
  "$calls" "$failed" "$((SECONDS - rot_started))" "$reached"
printf '    ROTATION (other sides): the server refused %s handshakes; the client Deployment: %s calls answered, %s failed, %s restarts\n' \
  "$refused" "$deploy_calls" "$deploy_failed" "$restarts"
if ((failed > 0)); then
  grep 'demo client failed' <<<"$text" | head -5 | indent
  fail "$failed handshake(s) failed during the root rotation"
fi
if ((refused > 0 || deploy_failed > 0 || restarts > 0)); then
  grep '"msg":"client refused"' <<<"$server_text" | head -5 | indent
  grep 'demo client failed' <<<"$deploy_text" | head -5 | indent
  fail "handshakes failed during the root rotation: the server refused $refused, the client Deployment failed $deploy_failed (restarts $restarts)"
fi
ok "$calls calls, 0 failed handshakes; the server refused none; the client Deployment made $deploy_calls calls, none failed, no restart"
