#!/usr/bin/env bash
# Self-check of the local control plane: up, Jobs (success, failure, ephemeral volume), RBAC with a
# ServiceAccount token from the TokenRequest API, down.
#
#   bash cluster/smoke.sh
#
# Uses its own state dir and ports (GITFAAS_CLUSTER_DIR, GITFAAS_CLUSTER_PORT_BASE) so that it never
# touches a cluster started with the defaults. GITFAAS_SMOKE_KEEP=1 leaves the cluster up.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GITFAAS_CLUSTER_DIR="${GITFAAS_CLUSTER_DIR:-/tmp/gitfaas-cluster-smoke}"
export GITFAAS_CLUSTER_PORT_BASE="${GITFAAS_CLUSTER_PORT_BASE:-27500}"
# shellcheck source=versions.sh source-path=SCRIPTDIR
source "$HERE/versions.sh"

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); printf "ok   [%3ss] %s\\n" "$SECONDS" "$*"; }
bad() { FAILED=$((FAILED + 1)); printf "FAIL [%3ss] %s\\n" "$SECONDS" "$*"; }
check() { local what="$1"; shift; if "$@" >/dev/null; then ok "$what"; else bad "$what"; fi; }

finish() {
  local rc=$?
  if [[ "${GITFAAS_SMOKE_KEEP:-0}" != 1 ]]; then
    local t=$SECONDS
    bash "$HERE/down.sh" || true
    echo "down took $((SECONDS - t))s"
  fi
  ((rc == 0 && FAILED == 0)) || rc=1
  echo "smoke: $PASSED passed, $FAILED failed"
  exit "$rc"
}
trap finish EXIT

t=$SECONDS
up_out="$(bash "$HERE/up.sh")"
last="$(tail -n 1 <<<"$up_out")"
[[ "$last" == KUBECONFIG=/* ]] || { bad "up.sh last line is KUBECONFIG=<absolute path> (got: $last)"; exit 1; }
ok "up.sh printed $last ($((SECONDS - t))s)"
export KUBECONFIG="${last#KUBECONFIG=}"
KUBECTL="$KUBE_BIN/kubectl"
k() { "$KUBECTL" "$@"; }

t=$SECONDS
again="$(bash "$HERE/up.sh" 2>/dev/null)"
check "up.sh again is idempotent ($((SECONDS - t))s)" test "$again" == "$last"

server_version="$(k get --raw /version | tr -d ' \n' | sed -n 's/.*"gitVersion":"\([^"]*\)".*/\1/p')"
check "server reports $KUBE_VERSION (got '$server_version')" test "$server_version" == "$KUBE_VERSION"

k create namespace smoke-a >/dev/null
k create namespace smoke-b >/dev/null

# --- a Job that succeeds, with a generic ephemeral volume ------------------------------------
k -n smoke-a apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: hello
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        gitfaas.dev/fake-run-duration: 2s
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox:stable
        command: ["sh", "-c", "echo hello > /scratch/out"]
        volumeMounts:
        - {name: scratch, mountPath: /scratch}
      volumes:
      - name: scratch
        ephemeral:
          volumeClaimTemplate:
            spec:
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 1Gi}}
EOF
check "Job with an ephemeral volume completes" \
  k -n smoke-a wait --for=condition=Complete job/hello --timeout=120s
check "its ephemeral PVC was bound" \
  bash -c "'$KUBECTL' -n smoke-a get pvc -o jsonpath='{.items[*].status.phase}' | grep -qx Bound"

# --- a Job whose pod fails with exit code 3 ----------------------------------------------------
k -n smoke-a apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: broken
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        gitfaas.dev/fake-exit-code: "3"
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: busybox:stable, command: ["false"]}
EOF
check "Job whose pod exits 3 ends Failed" \
  k -n smoke-a wait --for=condition=Failed job/broken --timeout=120s
code="$(k -n smoke-a get pods -l job-name=broken \
  -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')"
check "failed pod records exit code 3 (got '$code')" test "$code" == 3

# --- a pod is seen Running before it finishes; TTL-after-finished removes the Job -----------------
k -n smoke-a apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: slow
spec:
  ttlSecondsAfterFinished: 1
  template:
    metadata:
      annotations:
        gitfaas.dev/fake-run-duration: 4s
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: busybox:stable}
EOF
check "pod of Job slow is seen Running" \
  k -n smoke-a wait pod -l job-name=slow --for=jsonpath='{.status.phase}'=Running --timeout=60s
check "Job slow completes" k -n smoke-a wait --for=condition=Complete job/slow --timeout=60s
check "ttl-after-finished deletes Job slow" k -n smoke-a wait --for=delete job/slow --timeout=60s

# --- deleting a Job removes its pods, their ephemeral PVCs and the provisioned PVs --------------
k -n smoke-a delete job hello --cascade=foreground --wait=true --timeout=60s >/dev/null
check "the ephemeral PVC is gone with the pod" \
  k -n smoke-a wait --for=delete pvc --all --timeout=60s
pv_gone() {
  local _
  for _ in $(seq 1 60); do
    [[ -z "$(k get pv -o name)" ]] && return 0
    sleep 1
  done
  return 1
}
check "its hostPath PV was deleted" pv_gone

# --- RBAC with a ServiceAccount token ------------------------------------------------------------
k -n smoke-a create serviceaccount runner >/dev/null
k -n smoke-a create role job-runner --verb=get,list,watch,create,delete --resource=jobs.batch >/dev/null
k -n smoke-a create rolebinding job-runner --role=job-runner --serviceaccount=smoke-a:runner >/dev/null
token="$(k -n smoke-a create token runner --duration=10m)"
SA_KUBECONFIG="$GITFAAS_CLUSTER_DIR/runner.kubeconfig"
server="$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
ca="$(k config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
cat > "$SA_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gitfaas
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: runner
  user: {token: "$token"}
contexts:
- name: runner
  context: {cluster: gitfaas, user: runner, namespace: smoke-a}
current-context: runner
EOF
sa() { "$KUBECTL" --kubeconfig "$SA_KUBECONFIG" "$@"; }
who="$(sa auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1 || true)"
check "token authenticates as system:serviceaccount:smoke-a:runner (got '$who')" \
  test "$who" == system:serviceaccount:smoke-a:runner
job_yaml='{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"from-sa"},"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"main","image":"busybox:stable"}]}}}}'
check "the ServiceAccount may create a Job in smoke-a" \
  bash -c "echo '$job_yaml' | '$KUBECTL' --kubeconfig '$SA_KUBECONFIG' -n smoke-a create -f - >/dev/null"
check "that Job completes" sa -n smoke-a wait --for=condition=Complete job/from-sa --timeout=120s
err="$(echo "$job_yaml" | sa -n smoke-b create -f - 2>&1 >/dev/null || true)"
check "the ServiceAccount is forbidden to create a Job in smoke-b" \
  grep -q 'Forbidden\|forbidden' <<<"$err"
check "the ServiceAccount may not read Secrets in smoke-a" \
  test "$(sa -n smoke-a auth can-i get secrets 2>/dev/null || true)" == no
