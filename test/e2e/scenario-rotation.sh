# Sourced by run_scenario (test/e2e/scenario.sh): step 7, a staged root rotation under traffic.
# The operator runs with the shortest safe delays (test/e2e/overlays/operator): --rotation-propagation-delay=90s
# (the kubelet refreshes a mounted Secret within its sync period, 1 min by default, plus its cache) and
# --rotation-skew=30s (one cluster, one clock). A client calls the server once a second with --keep-going, so a
# failed handshake is logged and counted instead of ending the loop; each call is a new connection on which both
# sides verify each other against the bundle they have mounted at that moment.
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
rot_started=$SECONDS
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
retire_after=$(rotation_field retireAfter)
wait_retired=${E2E_ROTATION_RETIRE_WAIT:-$TIMEOUT}
left=$(( $(date -u -d "${retire_after:-now}" +%s) - $(date -u +%s) ))
if ((left <= wait_retired)); then
  check "Retired: the old root leaves the bundles (retireAfter $retire_after)"
  wait_until $((left + TIMEOUT)) rotation_phase_is Retired ||
    fail "the rotation did not reach Retired" "kubectl -n mtls-system get configmap mtls-trust-rotation -o yaml"
  wait_until "$TIMEOUT" bash -c "[[ \$(kubectl -n $NS get secret server-mtls -o 'jsonpath={.data.ca\\.crt}' | openssl base64 -d -A | grep -c 'BEGIN CERTIFICATE') -eq 1 ]]" ||
    fail "the old root is still in server-mtls's ca.crt after Retired"
  sleep 15 # a few calls on the one-root bundles
  ok "Retired after $((SECONDS - rot_started)) s"
else
  # The old leaves must have expired first: at least spec.duration's minimum (1h) after the last old leaf was
  # issued. Not waited for here; printed so that the run says what it did not see.
  echo "    NOT WAITED: Retired is due at $retire_after (in ${left}s: the last old leaf's expiry + skew), beyond E2E_ROTATION_RETIRE_WAIT=${wait_retired}s"
fi
check "no failed handshake during the rotation"
# the whole log first, then the loop is stopped
text=$(loop_text)
kubectl -n "$NS" delete job e2e-rotation-loop --wait=false >/dev/null 2>&1 || true
calls=$(grep -c '"msg":"response"' <<<"$text" || true)
failed=$(grep -c 'demo client failed' <<<"$text" || true)
printf '    ROTATION: %s calls answered, %s failed handshakes, over %s s (phases reached: %s)\n' \
  "$calls" "$failed" "$((SECONDS - rot_started))" "$(rotation_field phase)"
if ((failed > 0)); then
  grep 'demo client failed' <<<"$text" | head -5 | indent
  fail "$failed handshake(s) failed during the root rotation"
fi
ok "$calls calls, 0 failed handshakes"
