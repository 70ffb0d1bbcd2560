#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for end-to-end tests, built from Go modules.
#   gen    regenerate the committed wrapper modules (on version bumps only)
#   build  build kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok and
#          Prometheus into a cache outside the repository; skipped when they are already there
#   up     start etcd, apiserver, controller-manager, scheduler, kwok and Prometheus (which scrapes
#          the targets the simulator writes for its file-based discovery); exits 0 when ready
#   env    print the export lines for the administrator identity
#   down   stop exactly the processes `up` started and remove its state folder
# Everything listens on 127.0.0.1 only; pod IPs come from 127.10.0.0/16 so tests can bind to them.
set -euo pipefail

K8S=v1.34.4
ETCD=v3.6.16
KWOK=v0.8.0
PROMETHEUS=3.16.0
PROMETHEUS_MODULE=v0.316.0 # Prometheus 3.x is published to Go modules as v0.3xx

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODDIR=$ROOT/test/cluster
CACHE=${ZLU_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-zerolossupgrade/cluster}
BIN=$CACHE/$K8S-$ETCD-$KWOK
PROM_BIN=$CACHE/prometheus-$PROMETHEUS
# State of the running cluster; one per checkout unless overridden.
STATE=${ZLU_CLUSTER_STATE:-${TMPDIR:-/tmp}/zlu-cluster-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)}
ETCD_PORT=${ZLU_ETCD_PORT:-23790}
API_PORT=${ZLU_API_PORT:-26443}
PROM_PORT=${ZLU_PROMETHEUS_PORT:-29090}

export CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--mod=mod}

die() { echo "e2e-cluster: $*" >&2; exit 1; }

# Poll a command until it succeeds, at most $1 seconds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${limit}s waiting for $what (logs in $STATE/logs)"
    fi
    sleep 0.3
  done
}

gen() {
  local sv="v0.${K8S#v1.}" gm
  gm=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -f "$gm" ] || die "cannot download k8s.io/kubernetes@$K8S"
  (
    cd "$MODDIR/k8s"
    rm -f go.mod go.sum
    go mod init zerolossupgrade.test/cluster/k8s >/dev/null 2>&1
    local m
    for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$gm"); do
      go mod edit -replace="$m=$m@$sv"
    done
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S" \
      "k8s.io/kubernetes/cmd/kube-scheduler@$K8S" "k8s.io/kubernetes/cmd/kubectl@$K8S"
    go mod tidy
    local gd
    gd=$(sed -n 's/^godebug \(.*\)/\1/p' "$gm")
    [ -z "$gd" ] || go mod edit -godebug="$gd"
  )
  (
    cd "$MODDIR/etcd"
    rm -f go.mod go.sum
    go mod init zerolossupgrade.test/cluster/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD"
    go mod tidy
  )
  (
    cd "$MODDIR/prometheus"
    rm -f go.mod go.sum
    go mod init zerolossupgrade.test/cluster/prometheus >/dev/null 2>&1
    go get -tool "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE"
    go mod tidy
  )
}

prometheus_built() {
  [ -s "$PROM_BIN/prometheus" ] && "$PROM_BIN/prometheus" --version 2>/dev/null | grep -q "version $PROMETHEUS "
}

# Prometheus with file-based discovery only (remove_all_sd): the cloud discoveries are most of its build.
build_prometheus() {
  if prometheus_built; then return 0; fi
  mkdir -p "$PROM_BIN"
  echo "e2e-cluster: building Prometheus $PROMETHEUS (cold: about 5 minutes on 2 cores, once per machine)" >&2
  (cd "$MODDIR/prometheus" && go build -trimpath -tags remove_all_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS" \
    -o "$PROM_BIN/prometheus" github.com/prometheus/prometheus/cmd/prometheus)
  prometheus_built || die "Prometheus built but does not report version $PROMETHEUS"
}

built() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwok-stages.yaml; do
    [ -s "$BIN/$b" ] || return 1
  done
  "$BIN/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $K8S" || return 1
  "$BIN/etcd" --version 2>/dev/null | grep -q "etcd Version: ${ETCD#v}" || return 1
}

build() {
  build_prometheus
  if built; then return 0; fi
  mkdir -p "$BIN"
  local minor=${K8S#v1.}; minor=${minor%%.*}
  local ldf="" p date
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  echo "e2e-cluster: building Kubernetes $K8S (cold: about 12 minutes on 2 cores, once per machine)" >&2
  (cd "$MODDIR/k8s" && go build -trimpath -ldflags "-s -w $ldf" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  echo "e2e-cluster: building etcd $ETCD" >&2
  (cd "$MODDIR/etcd" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" .)
  echo "e2e-cluster: installing kwok $KWOK" >&2
  GOBIN=$BIN GOFLAGS= go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  local stages
  stages=$(GOFLAGS= go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/stage
  awk 'FNR==1&&NR>1{print "---"}1' "$stages/node/fast/node-initialize.yaml" \
    "$stages"/node/heartbeat-with-lease/*.yaml "$stages"/pod/fast/pod-*.yaml >"$BIN/kwok-stages.yaml"
  built || die "build finished but the binaries do not report $K8S / $ETCD"
}

running() { [ -f "$STATE/pids" ] && [ -f "$STATE/admin.kubeconfig" ]; }

start() { # name, command...
  local name=$1; shift
  "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo "$name $!" >>"$STATE/pids"
}

kubeconfig() { # user token
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: zlu-e2e
  cluster:
    server: https://127.0.0.1:$API_PORT
    insecure-skip-tls-verify: true
users:
- name: $1
  user:
    token: $2
contexts:
- name: $1@zlu-e2e
  context: {cluster: zlu-e2e, user: $1, namespace: default}
current-context: $1@zlu-e2e
EOF
}

up() {
  build
  if running; then
    if "$BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" get --raw /readyz >/dev/null 2>&1; then return 0; fi
    down
  fi
  mkdir -p "$STATE/logs" "$STATE/pki"
  : >"$STATE/pids"
  trap 'down >/dev/null 2>&1 || true' ERR
  local pki=$STATE/pki
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # Three identities: the administrator for test setup, the operator bound to docs/rbac.yaml,
  # and a user with no permissions at all (to see how refusals read).
  local admin_token user_token nobody_token
  admin_token=$(openssl rand -hex 24)
  user_token=$(openssl rand -hex 24)
  nobody_token=$(openssl rand -hex 24)
  printf '%s,admin,admin,"system:masters"\n%s,zlu-operator,zlu-operator\n%s,zlu-nobody,zlu-nobody\n' \
    "$admin_token" "$user_token" "$nobody_token" >"$pki/tokens.csv"

  start etcd "$BIN/etcd" --name zlu --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "zlu=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --unsafe-no-fsync --quota-backend-bytes 1073741824
  wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  # The audit log counts the plugin's own API calls (the scale tests and bench:scale): the operator
  # identity only, one line per request once its response is complete (a watch when it ends).
  cat >"$pki/audit-policy.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  users: [zlu-operator]
- level: None
YAML
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" --cert-dir "$pki" \
    --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true --authorization-mode RBAC \
    --token-auth-file "$pki/tokens.csv" \
    --service-account-issuer "https://127.0.0.1:$API_PORT/" --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --audit-policy-file "$pki/audit-policy.yaml" --audit-log-path "$STATE/logs/audit.log" \
    --audit-log-maxsize 500 --audit-log-maxbackup 1 --audit-log-format json
  kubeconfig admin "$admin_token" >"$STATE/admin.kubeconfig"
  kubeconfig zlu-operator "$user_token" >"$STATE/operator.kubeconfig"
  kubeconfig zlu-nobody "$nobody_token" >"$STATE/nobody.kubeconfig"
  chmod 600 "$STATE"/*.kubeconfig
  local k=("$BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig")
  wait_for 60 kube-apiserver "${k[@]}" get --raw /readyz

  # Off: node IPAM (node podCIDRs are set by hand), the cloud controllers (the simulator plays TKE's),
  # and the endpoint controllers, which refuse loopback pod IPs and would fill Services with Warnings.
  local KCM_CONTROLLERS='*,-node-ipam-controller,-service-lb-controller,-cloud-node-lifecycle-controller,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller'
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$STATE/admin.kubeconfig" \
    --leader-elect=false --service-account-private-key-file "$pki/sa.key" --use-service-account-credentials=false \
    --root-ca-file "$pki/apiserver.crt" --secure-port 0 --controllers "$KCM_CONTROLLERS"
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$STATE/admin.kubeconfig" --leader-elect=false \
    --secure-port 0
  # kwok runs the nodes labelled type=kwok (test/cluster/nodes.yaml) with its fast stages; the
  # simulator registers a node of its own and is the kubelet there (sim/kubelet.ts).
  start kwok "$BIN/kwok" --kubeconfig "$STATE/admin.kubeconfig" -c "$BIN/kwok-stages.yaml" \
    --manage-nodes-with-label-selector type=kwok --cidr 127.10.0.0/16 --node-ip 127.0.0.1 --node-lease-duration-seconds 40 \
    --server-address 127.0.0.1:0

  "${k[@]}" apply -f "$MODDIR/nodes.yaml" >/dev/null
  "${k[@]}" apply -f "$ROOT/docs/rbac.yaml" >/dev/null
  "${k[@]}" apply -f "$MODDIR/operator-binding.yaml" >/dev/null
  wait_for 60 "Ready nodes" "${k[@]}" wait --for=condition=Ready node --all --timeout=1s
  wait_for 60 "the default ServiceAccount" "${k[@]}" get serviceaccount default -n default

  # Prometheus scrapes every target the simulators write to $STATE/prometheus/targets (one file each).
  mkdir -p "$STATE/prometheus/targets"
  cat >"$STATE/prometheus/prometheus.yml" <<YAML
global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
- job_name: sim
  file_sd_configs: [{files: ['$STATE/prometheus/targets/*.json'], refresh_interval: 1s}]
YAML
  start prometheus "$PROM_BIN/prometheus" --config.file "$STATE/prometheus/prometheus.yml" \
    --storage.tsdb.path "$STATE/prometheus/data" --web.listen-address "127.0.0.1:$PROM_PORT"
  wait_for 60 Prometheus curl -sf "http://127.0.0.1:$PROM_PORT/-/ready"
  trap - ERR
}

env_lines() {
  running || die "no cluster is up; run: $0 up"
  echo "export KUBECONFIG=$STATE/admin.kubeconfig"
  echo "export PATH=$BIN:\$PATH"
  echo "export ZLU_OPERATOR_KUBECONFIG=$STATE/operator.kubeconfig"
  echo "export ZLU_NOBODY_KUBECONFIG=$STATE/nobody.kubeconfig"
  echo "export ZLU_AUDIT_LOG=$STATE/logs/audit.log"
  echo "export ZLU_PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT"
  echo "export ZLU_PROMETHEUS_TARGETS=$STATE/prometheus/targets"
}

down() {
  [ -d "$STATE" ] || return 0
  if [ -f "$STATE/pids" ]; then
    local name pid
    # Reverse order: kwok and controllers before the apiserver, etcd last.
    tac "$STATE/pids" | while read -r name pid; do
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
  rm -rf "$STATE"
}

case ${1:-} in
  gen) gen ;;
  build) build ;;
  up) up ;;
  env) env_lines ;;
  down) down ;;
  bin) echo "$BIN" ;;
  *) echo "usage: $0 gen|build|up|env|down" >&2; exit 2 ;;
esac
