#!/usr/bin/env bash
# Starts a local Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and KWOK (fake kubelet) with fake Nodes, all on 127.0.0.1.
#
#   bash cluster/up.sh      # builds first if needed; last line on stdout: KUBECONFIG=<path>
#
# Idempotent: when the cluster in $GITFAAS_CLUSTER_DIR is already up and healthy it only prints the
# KUBECONFIG line. Progress goes to stderr. Stop with cluster/down.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh source-path=SCRIPTDIR
source "$HERE/versions.sh"

PKI="$STATE/pki"
LOGS="$STATE/logs"
KUBECONFIG_PATH="$STATE/kubeconfig"
NODE_COUNT="${GITFAAS_CLUSTER_NODES:-2}"
SERVICE_CIDR="10.96.0.0/16"
SERVICE_IP="10.96.0.1"
POD_CIDR="10.244.0.0/16"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
T0=$SECONDS

log() { printf '[cluster %3ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kctl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# pid of a component we started, if it is still that process.
live_pid() {
  local name="$1" pid
  [[ -f "$RUN/$name.pid" ]] || return 1
  pid="$(cat "$RUN/$name.pid")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$STATE" || return 1
  echo "$pid"
}

healthy() {
  [[ -f "$KUBECONFIG_PATH" && -f "$STATE/ready" && -x "$KUBE_BIN/kubectl" ]] || return 1
  local c
  for c in "${COMPONENTS[@]}"; do live_pid "$c" >/dev/null || return 1; done
  [[ "$(kctl get --raw /readyz 2>/dev/null)" == ok ]]
}

# One up/down at a time per state dir (parallel test runners may all call up.sh). The lock file
# sits beside the state dir, which down.sh removes.
mkdir -p "$(dirname "$STATE")"
exec 8>"$STATE.lock"
if ! flock -n 8; then log "waiting for another up/down on $STATE"; flock 8; fi

if healthy; then
  log "already up ($STATE)"
  echo "KUBECONFIG=$KUBECONFIG_PATH"
  exit 0
fi

if [[ -d "$RUN" ]]; then
  log "found a stale or unhealthy cluster in $STATE: stopping it first"
  GITFAAS_CLUSTER_LOCK_HELD=1 bash "$HERE/down.sh" >&2
fi

# ---------------------------------------------------------------------------------- binaries
bash "$HERE/build.sh" >/dev/null
for b in "$KUBE_BIN/kube-apiserver" "$KUBE_BIN/kube-controller-manager" "$KUBE_BIN/kube-scheduler" \
  "$KUBE_BIN/kubectl" "$ETCD_BIN_PATH" "$KWOK_BIN/kwok"; do
  [[ -x "$b" ]] || die "missing binary $b (see cluster/build.sh)"
done
log "binaries ready"

mkdir -p "$PKI" "$LOGS" "$RUN" "$STATE/etcd" "$STATE/bin"
ln -sf "$KUBE_BIN/kubectl" "$STATE/bin/kubectl"

# ---------------------------------------------------------------------------------- ports
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# First free port at or above $1 that is not already handed out.
TAKEN=" "
pick_port() {
  local p="$1"
  while port_busy "$p" || [[ "$TAKEN" == *" $p "* ]] || ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do
    p=$((p + 1))
  done
  TAKEN+="$p "
  echo "$p"
}
BASE="${GITFAAS_CLUSTER_PORT_BASE:-27400}"
ETCD_PORT="$(pick_port "$BASE")"; TAKEN+="$ETCD_PORT "
ETCD_PEER_PORT="$(pick_port $((BASE + 1)))"; TAKEN+="$ETCD_PEER_PORT "
API_PORT="$(pick_port $((BASE + 2)))"; TAKEN+="$API_PORT "
KCM_PORT="$(pick_port $((BASE + 3)))"; TAKEN+="$KCM_PORT "
SCHED_PORT="$(pick_port $((BASE + 4)))"; TAKEN+="$SCHED_PORT "
KWOK_PORT="$(pick_port $((BASE + 5)))"; TAKEN+="$KWOK_PORT "
cat > "$STATE/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
EOF
log "ports: etcd $ETCD_PORT/$ETCD_PEER_PORT apiserver $API_PORT kcm $KCM_PORT scheduler $SCHED_PORT kwok $KWOK_PORT"

# ---------------------------------------------------------------------------------- certificates
ossl() { openssl "$@" 2>/dev/null; }
# client_cert NAME CN [O]
client_cert() {
  local name="$1" cn="$2" org="${3:-}" subj
  subj="/CN=$cn"; [[ -n "$org" ]] && subj="/O=$org$subj"
  ossl genrsa -out "$PKI/$name.key" 2048
  ossl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$PKI/$name.ext"
  ossl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt"
}
if [[ ! -f "$PKI/admin.crt" ]]; then
  ossl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
    -subj "/CN=gitfaas-cluster-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
  ossl genrsa -out "$PKI/apiserver.key" 2048
  ossl req -new -key "$PKI/apiserver.key" -subj "/CN=kube-apiserver" -out "$PKI/apiserver.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth"
    echo "subjectAltName=IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  } > "$PKI/apiserver.ext"
  ossl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt"
  client_cert admin gitfaas-admin system:masters
  client_cert controller-manager system:kube-controller-manager
  client_cert scheduler system:kube-scheduler
  client_cert kwok gitfaas-kwok system:masters
  ossl genrsa -out "$PKI/sa.key" 2048
  ossl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  rm -f "$PKI"/*.csr "$PKI"/*.ext
  chmod 600 "$PKI"/*.key
  log "certificates in $PKI"
fi

b64() { base64 -w0 < "$1"; }
# write_kubeconfig FILE CERTNAME USER
write_kubeconfig() {
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gitfaas
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $3
  user:
    client-certificate-data: $(b64 "$PKI/$2.crt")
    client-key-data: $(b64 "$PKI/$2.key")
contexts:
- name: gitfaas
  context:
    cluster: gitfaas
    user: $3
    namespace: default
current-context: gitfaas
EOF
  chmod 600 "$1"
}
write_kubeconfig "$KUBECONFIG_PATH" admin gitfaas-admin
write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler system:kube-scheduler
write_kubeconfig "$STATE/kwok.kubeconfig" kwok gitfaas-kwok

# ---------------------------------------------------------------------------------- processes
# start NAME BINARY ARGS...: detached (own session), output to logs/NAME.log, pid in run/NAME.pid
start() {
  local name="$1" bin="$2"; shift 2
  # 8>&-: the daemons must not inherit (and so hold) the up/down lock
  setsid "$bin" "$@" > "$LOGS/$name.log" 2>&1 < /dev/null 8>&- &
  echo $! > "$RUN/$name.pid"
  log "started $name (pid $!)"
}

# gone NAME: the component's process has ended (no such pid, or a zombie). Not live_pid: right after
# `start`, /proc/<pid>/cmdline may still be the forking shell's (not exec'd yet), which it takes for an exit.
gone() {
  local pid
  pid="$(cat "$RUN/$1.pid" 2>/dev/null)"
  [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 0
  [[ "$(awk '{print $3}' "/proc/$pid/stat")" == Z ]]
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls every 0.5s; fails with the log tail of $WAIT_LOG
wait_until() {
  local limit="$1" what="$2"; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      log "timed out after ${limit}s waiting for $what"
      [[ -n "${WAIT_LOG:-}" && -f "$LOGS/$WAIT_LOG.log" ]] && tail -n 40 "$LOGS/$WAIT_LOG.log" >&2
      exit 1
    fi
    if [[ -n "${WAIT_LOG:-}" ]] && gone "$WAIT_LOG"; then
      log "$WAIT_LOG exited while waiting for $what"
      tail -n 40 "$LOGS/$WAIT_LOG.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  log "$what: ok"
}

start etcd "$ETCD_BIN_PATH" \
  --name=gitfaas \
  --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="gitfaas=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync=true \
  --log-level=warn
WAIT_LOG=etcd wait_until 60 "etcd health" \
  bash -c "curl -fsS http://127.0.0.1:$ETCD_PORT/health | grep -q '\"health\":\"true\"'"

start kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --etcd-prefix=/registry \
  --bind-address=127.0.0.1 \
  --secure-port="$API_PORT" \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --cert-dir="$PKI/apiserver-generated" \
  --tls-cert-file="$PKI/apiserver.crt" \
  --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --authorization-mode=RBAC \
  --anonymous-auth=false \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-issuer="https://kubernetes.default.svc.cluster.local" \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --allow-privileged=true \
  --disable-admission-plugins=TaintNodesByCondition \
  --profiling=false \
  --v=0
WAIT_LOG=kube-apiserver wait_until 120 "kube-apiserver /readyz" \
  bash -c "[[ \"\$('$KUBE_BIN/kubectl' --kubeconfig '$KUBECONFIG_PATH' get --raw /readyz 2>/dev/null)\" == ok ]]"

CONTROLLERS=(
  job-controller cronjob-controller ttl-after-finished-controller
  garbage-collector-controller namespace-controller pod-garbage-collector-controller
  serviceaccount-controller serviceaccount-token-controller root-ca-certificate-publisher-controller
  ephemeral-volume-controller persistentvolume-binder-controller
  persistentvolumeclaim-protection-controller persistentvolume-protection-controller
  replicaset-controller deployment-controller
  clusterrole-aggregation-controller resourcequota-controller
)
start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
  --kubeconfig="$STATE/controller-manager.kubeconfig" \
  --leader-elect=false \
  --bind-address=127.0.0.1 \
  --secure-port="$KCM_PORT" \
  --cert-dir="$PKI/kcm-generated" \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" \
  --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" \
  --cluster-signing-key-file="$PKI/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --enable-hostpath-provisioner=true \
  --controllers="$(IFS=,; echo "${CONTROLLERS[*]}")" \
  --profiling=false \
  --v=0

start kube-scheduler "$KUBE_BIN/kube-scheduler" \
  --kubeconfig="$STATE/scheduler.kubeconfig" \
  --leader-elect=false \
  --bind-address=127.0.0.1 \
  --secure-port="$SCHED_PORT" \
  --cert-dir="$PKI/scheduler-generated" \
  --profiling=false \
  --v=0

sed "s/@KUBE_VERSION@/$KUBE_VERSION/g" "$HERE/kwok-stages.yaml" > "$STATE/kwok-stages.yaml"
start kwok "$KWOK_BIN/kwok" \
  --kubeconfig="$STATE/kwok.kubeconfig" \
  --config="$STATE/kwok-stages.yaml" \
  --manage-all-nodes=true \
  --server-address="127.0.0.1:$KWOK_PORT" \
  --node-ip=127.0.0.1 \
  --cidr="$POD_CIDR" \
  --node-lease-duration-seconds=0

WAIT_LOG=kube-controller-manager wait_until 60 "kube-controller-manager /healthz" \
  curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
WAIT_LOG=kube-scheduler wait_until 60 "kube-scheduler /healthz" \
  curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz"

# ---------------------------------------------------------------------------------- objects
{
  for ((i = 0; i < NODE_COUNT; i++)); do
    cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec:
  podCIDR: 10.244.$i.0/24
  podCIDRs: [10.244.$i.0/24]
status:
  capacity: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}
  allocatable: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}
---
EOF
  done
  # Default StorageClass: the in-tree hostPath provisioner (kube-controller-manager
  # --enable-hostpath-provisioner) creates a PV under /tmp/hostpath_pv for every claim, including
  # the claims that the ephemeral-volume controller makes for generic ephemeral volumes.
  cat <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
} | kctl apply -f - >/dev/null
log "created $NODE_COUNT fake node(s) and the default StorageClass"

wait_until 60 "nodes Ready" kctl wait --for=condition=Ready node --all --timeout=5s
wait_until 60 "default ServiceAccount" kctl -n default get serviceaccount default

# ---------------------------------------------------------------------------------- self-check
CHECK_JOB=gitfaas-up-check
kctl -n default delete job "$CHECK_JOB" --ignore-not-found --wait=true >/dev/null 2>&1 || true
kctl -n default apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $CHECK_JOB
spec:
  backoffLimit: 0
  ttlSecondsAfterFinished: 30
  template:
    metadata:
      annotations:
        gitfaas.dev/fake-start-delay: 100ms
        gitfaas.dev/fake-run-duration: 100ms
    spec:
      restartPolicy: Never
      containers:
      - name: check
        image: busybox:stable
        command: ["true"]
EOF
if ! kctl -n default wait --for=condition=Complete "job/$CHECK_JOB" --timeout=90s >/dev/null; then
  kctl -n default describe "job/$CHECK_JOB" >&2 || true
  kctl -n default get pods -o wide >&2 || true
  die "the check Job did not complete"
fi
kctl -n default delete job "$CHECK_JOB" --cascade=foreground --wait=false >/dev/null 2>&1 || true
touch "$STATE/ready"
log "check Job completed; cluster up in $((SECONDS - T0))s (kubectl: $STATE/bin/kubectl)"

echo "KUBECONFIG=$KUBECONFIG_PATH"
