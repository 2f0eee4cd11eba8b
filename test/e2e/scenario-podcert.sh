# Sourced by run_scenario (test/e2e/scenario.sh) when E2E_PODCERT=1 (local-node.sh's default): step 9, pod
# certificates (issue 18).
# The operator gets deploy/optional/pod-certificates (its --pod-certificates=auto turns the signer on at its next
# start); a Deployment whose identity comes from no Secret at all: one projected volume with a podCertificate source
# (the kubelet makes the key on the node and asks signer mtls.dev/identity with a PodCertificateRequest) and a
# clusterTrustBundle source (the operator's ClusterTrustBundle, selected by signerName and label), giving the demo
# client its tls.crt, tls.key and ca.crt. It calls the server, whose identity is the Secret server-mtls, over
# mutual TLS; then the kubelet refreshes the certificate at beginRefreshAt and the same pod (no restart) presents
# the new one. The shortest refresh the API allows: a 1 h certificate refreshed 10 min after notBefore (identity
# podcert: duration 1h, renewBefore 50m, podCertificates true), so this step takes some 12 minutes.
# Kubernetes 1.37: PodCertificateRequest and ClusterTrustBundle(Projection) are GA and on by default (no feature
# gates, no --runtime-config on the apiserver or the kubelet); NodeRestriction (local-node/cluster.sh) applies.
# shellcheck shell=bash

PODCERT_ID=spiffe://$TRUST_DOMAIN/ns/$NS/sa/podcert
podcert_pod() { kubectl -n "$NS" get pods -l app.kubernetes.io/name=podcert-client --field-selector=status.phase=Running -o 'jsonpath={.items[*].metadata.name}'; }
client_serials() {
  kubectl -n "$NS" logs "pod/$1" --tail=-1 2>/dev/null | sed -n 's/.*"msg":"response".*"clientSerial":"\([0-9a-f]*\)".*/\1/p' | sort -u
}
two_serials() { [[ $(client_serials "$1" | wc -l) -ge 2 ]]; }
# the leader's log (the standby starts its controller, and the signer, only when it leads)
signer_on() { kubectl -n mtls-system logs -l app.kubernetes.io/name=mtls-operator --tail=-1 --prefix 2>/dev/null | grep -q '"message":"pod certificate signer on"'; }
ctb_published() { [[ $(kubectl get clustertrustbundle mtls.dev:identity:roots -o 'jsonpath={.spec.signerName}' 2>/dev/null) == mtls.dev/identity ]]; }

step "9: a pod with no Secret (podCertificate + clusterTrustBundle volumes) <-> server (Secret) over mutual TLS; refresh without restart"
check "the signer's RBAC applied, the operator restarted, the signer on, the ClusterTrustBundle published"
kubectl apply -k "$ROOT/deploy/optional/pod-certificates" | indent
kubectl -n mtls-system rollout restart deployment/mtls-operator | indent
kubectl -n mtls-system rollout status deployment/mtls-operator --timeout="${TIMEOUT}s" | indent
wait_until "$TIMEOUT" signer_on || fail "the operator did not turn the signer on" "kubectl -n mtls-system logs -l app.kubernetes.io/name=mtls-operator --tail=40 --prefix"
wait_until 60 ctb_published || fail "no ClusterTrustBundle mtls.dev:identity:roots" "kubectl get clustertrustbundles -o yaml"
ok "signer mtls.dev/identity on; ClusterTrustBundle mtls.dev:identity:roots published"

check "a Deployment whose certificate and trust come only from projected volumes is answered by the server"
kubectl apply -f - <<EOF2 | indent
apiVersion: v1
kind: ServiceAccount
metadata: {name: podcert, namespace: $NS}
automountServiceAccountToken: false
---
apiVersion: mtls.dev/v1alpha1
kind: MutualTLSIdentity
metadata: {name: podcert, namespace: $NS}
spec: {serviceAccountName: podcert, duration: 1h, renewBefore: 50m, podCertificates: true}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podcert-client
  namespace: $NS
  labels: {app.kubernetes.io/part-of: mtls-demo, mtls-e2e: "true"}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: podcert-client}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: podcert-client, app.kubernetes.io/part-of: mtls-demo}
    spec:
      serviceAccountName: podcert
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 2
$(pod_spec_extras)
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: client
          image: $IMAGE
          command: ["node", "dist/demo/main.js"]
          args: [client, --host, server.demo.svc, --port, "8443", --loop, "0", --interval, "5000", --keep-going]
          env:
            - {name: MTLS_EXPECT_SERVER_ID, value: "$SERVER_ID"}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: ["ALL"]}
          volumeMounts:
            - {name: mtls, mountPath: /var/run/mtls, readOnly: true}
      volumes:
        - name: mtls
          projected:
            defaultMode: 0440
            sources:
              - podCertificate:
                  signerName: mtls.dev/identity
                  keyType: ECDSAP256
                  maxExpirationSeconds: 3600
                  certificateChainPath: tls.crt
                  keyPath: tls.key
              - clusterTrustBundle:
                  signerName: mtls.dev/identity
                  labelSelector: {matchLabels: {mtls.dev/trust-domain: $TRUST_DOMAIN}}
                  path: ca.crt
EOF2
kubectl -n "$NS" rollout status deployment/podcert-client --timeout="${TIMEOUT}s" ||
  fail "deployment $NS/podcert-client did not roll out" "kubectl -n $NS describe pods -l app.kubernetes.io/name=podcert-client" \
    "kubectl -n $NS get podcertificaterequests -o yaml"
pod=$(podcert_pod)
wait_until "$TIMEOUT" logs_match "pod/$pod" "\"msg\":\"response\".*\"clientId\":\"$PODCERT_ID\".*\"serverId\":\"$SERVER_ID\"" ||
  fail "pod $pod got no answer as $PODCERT_ID" "kubectl -n $NS logs pod/$pod --tail=30" "kubectl -n $NS get podcertificaterequests -o yaml"
logs_match deployment/server "\"msg\":\"request\".*\"peer\":\"$PODCERT_ID\"" ||
  fail "the server logged no request from $PODCERT_ID" "kubectl -n $NS logs deployment/server --tail=30"
issued=$(kubectl -n "$NS" get podcertificaterequests -o json | grep -c '"type": "Issued"' || true)
((issued >= 1)) || fail "no Issued PodCertificateRequest in $NS" "kubectl -n $NS get podcertificaterequests -o yaml"
first=$(client_serials "$pod" | head -1)
ok "pod $pod (no Secret mounted) is $PODCERT_ID with serial $first; the server ($SERVER_ID, from Secret server-mtls) answers it"

check "the kubelet refreshes the certificate at beginRefreshAt (10 min after notBefore); the same pod, not restarted, presents the new one"
wait_until 1080 two_serials "$pod" ||
  fail "pod $pod presented no second certificate within 18 min" "kubectl -n $NS logs pod/$pod --tail=20" \
    "kubectl -n $NS get podcertificaterequests -o yaml"
restarts=$(kubectl -n "$NS" get pod "$pod" -o 'jsonpath={.status.containerStatuses[0].restartCount}')
[[ $restarts == 0 ]] || fail "pod $pod restarted ($restarts)"
failed=$(kubectl -n "$NS" logs "pod/$pod" --tail=-1 | grep -c '"msg":"demo client failed' || true)
ok "pod $pod: serials $(client_serials "$pod" | tr '\n' ' ')without a restart; failed calls: $failed"
((failed == 0)) || fail "pod $pod had $failed failed calls across the refresh" "kubectl -n $NS logs pod/$pod --tail=40"
