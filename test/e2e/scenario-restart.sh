# Sourced by run_scenario (test/e2e/scenario.sh): step 8, the workload-restart opt-in. A Deployment whose program
# reads its certificate only at start (it prints the serial it read, then sleeps) is listed in its identity's
# spec.restartWorkloads; the operator runs with --allow-workload-restart=true and deploy/optional/workload-restart
# (E2E_OPERATOR_ARGS in test/e2e/scenario.sh). A forced renewal must roll it: a new pod that started on the new certificate.
# shellcheck shell=bash

reader_pods() { kubectl -n "$NS" get pods -l app.kubernetes.io/name=reader --field-selector=status.phase=Running -o 'jsonpath={.items[*].metadata.name}'; }
reader_rolled() {
  local p
  p=$(reader_pods) && [[ -n $p && $p != *"$1"* && $p != *' '* ]]
}

step "8: restartWorkloads rolls a Deployment that reads its certificate only at start"
kubectl apply -f - <<EOF2 | indent
apiVersion: mtls.dev/v1alpha1
kind: MutualTLSIdentity
metadata: {name: reader, namespace: $NS}
spec:
  serviceAccountName: client
  restartWorkloads: [{kind: Deployment, name: reader}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reader
  namespace: $NS
  labels: {app.kubernetes.io/part-of: mtls-demo, mtls-e2e: "true"}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: reader}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: reader, app.kubernetes.io/part-of: mtls-demo}
    spec:
      serviceAccountName: client
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
        - name: reader
          image: $IMAGE
          command: ["node", "-e"]
          args:
            - |
              const { X509Certificate } = require('node:crypto');
              const cert = new X509Certificate(require('node:fs').readFileSync('/var/run/mtls/tls.crt'));
              console.log(JSON.stringify({ msg: 'read at start', serial: cert.serialNumber.toLowerCase() }));
              setInterval(() => {}, 1 << 30);
              process.on('SIGTERM', () => process.exit(0));
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: ["ALL"]}
          volumeMounts:
            - {name: mtls, mountPath: /var/run/mtls, readOnly: true}
      volumes:
        - name: mtls
          secret: {secretName: reader-mtls, defaultMode: 0440}
EOF2
check "identity reader is Ready and its Deployment runs on its certificate"
kubectl -n "$NS" wait --for=condition=Ready mutualtlsidentity/reader --timeout="${TIMEOUT}s" ||
  fail "identity $NS/reader is not Ready" "kubectl -n $NS get mutualtlsidentity reader -o yaml"
kubectl -n "$NS" rollout status deployment/reader --timeout="${TIMEOUT}s" ||
  fail "deployment $NS/reader did not roll out" "kubectl -n $NS describe deployment/reader" "kubectl -n $NS describe pods -l app.kubernetes.io/name=reader"
first_pod=$(reader_pods)
serial=$(secret_annotation reader-mtls serial)
wait_until 60 logs_match deployment/reader "\"serial\":\"$serial\"" ||
  fail "the reader did not print serial $serial at start" "kubectl -n $NS logs deployment/reader"
ok "pod $first_pod read serial $serial at start"
check "a renewal rolls the Deployment (pod-template annotation mtls.dev/certificate-hash), and the new pod reads the new certificate"
kubectl -n "$NS" annotate mutualtlsidentity reader "mtls.dev/renew-request=$(date -u +%Y-%m-%dT%H:%M:%SZ)" --overwrite | indent
wait_until 60 serial_differs reader-mtls "$serial" || fail "Secret $NS/reader-mtls was not renewed"
new=$(secret_annotation reader-mtls serial)
wait_until "$TIMEOUT" reader_rolled "$first_pod" ||
  fail "deployment $NS/reader was not rolled after the renewal" "kubectl -n $NS get deployment reader -o yaml" \
    "kubectl -n $NS describe mutualtlsidentity reader"
kubectl -n "$NS" rollout status deployment/reader --timeout="${TIMEOUT}s" | indent
hash=$(kubectl -n "$NS" get deployment reader -o 'jsonpath={.spec.template.metadata.annotations.mtls\.dev/certificate-hash}')
[[ -n $hash ]] || fail "deployment $NS/reader's pod template has no mtls.dev/certificate-hash annotation"
wait_until 60 logs_match deployment/reader "\"serial\":\"$new\"" ||
  fail "the new reader pod did not start on serial $new" "kubectl -n $NS logs deployment/reader"
ok "serial $serial -> $new: pod $first_pod replaced by $(reader_pods) (certificate-hash $hash), which read $new at start"
