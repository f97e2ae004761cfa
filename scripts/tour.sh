#!/usr/bin/env bash
# The README's five-minute tour, with a check after every step. It drives a running
# reference cluster with kubectl:
#
#   cargo run --release --example reference-cluster &        # as root, for pod networking
#   KUBECONFIG=$PWD/.data/pki/admin.kubeconfig bash scripts/tour.sh
#
# KUBECTL names the kubectl to use (default: kubectl on the PATH). The end-to-end test
# (tests/tour.rs) runs this script against an in-process reference cluster with each
# kubectl version the test scripts install. Exits non-zero at the first step that fails.
set -euo pipefail

kubectl=${KUBECTL:-kubectl}
k() { "$kubectl" "$@"; }
step() { printf '\n==> %s\n' "$*"; }
# What the cluster looked like when a step failed, so that the failure says why.
state() {
    echo "--- the cluster at the failure:" >&2
    k get nodes -o wide >&2 || true
    k get pods -o wide >&2 || true
    k get pods -o jsonpath='{range .items[*]}{.metadata.name}{": "}{.status.conditions[*].message}{"\n"}{end}' >&2 || true
    k get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" taints: "}{.spec.taints[*].key}{"\n"}{end}' >&2 || true
}
fail() { echo "tour: FAILED: $*" >&2; trap - ERR; state; exit 1; }
trap 'trap - ERR; state' ERR

# Runs "$@" until it succeeds, at most $1 seconds.
retry() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

# GETs a URL (Python's standard library, so the tour needs no curl); prints the status.
http_get() {
    python3 - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
        print(response.status)
except Exception as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
EOF
}

ready_pods() {
    k get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
        | awk '$1 == "True" && NF == 1' | wc -l
}

step "the nodes are Ready"
k wait --for=condition=Ready node --all --timeout=60s
k get nodes -o wide

step "a Deployment of a real process: a tiny HTTP server"
k create deployment web --image=python --replicas=2 --port=8080 -- python3 -m http.server 8080
k rollout status deployment/web --timeout=120s
k get pods -o wide

step "exposed as a Service, reached through the proxy on its ClusterIP"
k expose deployment web --port=80 --target-port=8080
ip=$(k get service web -o jsonpath='{.spec.clusterIP}')
[ -n "$ip" ] || fail "the Service got no ClusterIP"
endpoints() { [ "$(k get endpoints web -o jsonpath='{.subsets[*].addresses[*].ip}' | wc -w)" -eq 2 ]; }
retry 60 endpoints || fail "the Service's Endpoints never listed both pods"
retry 30 http_get "http://$ip/" >/dev/null || fail "http://$ip/ did not answer through the proxy"
echo "http://$ip/ answers 200"

step "a LoadBalancer Service gets an address from the local cloud, and answers on it"
k expose deployment web --name=web-lb --type=LoadBalancer --port=8080
lb_ip() { k get service web-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }
has_lb_ip() { [ -n "$(lb_ip)" ]; }
retry 60 has_lb_ip || fail "the LoadBalancer Service got no address"
retry 30 http_get "http://$(lb_ip):8080/" >/dev/null || fail "http://$(lb_ip):8080/ did not answer"
k get service web-lb
echo "http://$(lb_ip):8080/ answers 200"

step "scaled to three"
k scale deployment web --replicas=3
k rollout status deployment/web --timeout=120s
[ "$(ready_pods)" -eq 3 ] || fail "expected 3 ready pods"

step "a pod killed comes back"
victim=$(k get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
k delete pod "$victim" --wait=true
three_ready() { [ "$(ready_pods)" -eq 3 ]; }
retry 60 three_ready || fail "the ReplicaSet did not bring the third pod back"
k get pods -o wide

step "a new version rolled out"
k set env deployment/web VERSION=2
k rollout status deployment/web --timeout=120s
[ "$(k get deployment web -o jsonpath='{.status.updatedReplicas}')" = 3 ] || fail "not every replica was updated"
k get replicasets

step "rolled back to the first version"
k rollout history deployment/web
k rollout history deployment/web | grep -q '^2 ' || fail "no second revision in the history"
k rollout undo deployment/web
k rollout status deployment/web --timeout=120s
version_env() { k get deployment web -o jsonpath='{.spec.template.spec.containers[0].env[*].name}'; }
case " $(version_env) " in *" VERSION "*) fail "the undo kept VERSION=2" ;; esac
[ "$(k get deployment web -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = 3 ] \
    || fail "the undo is not revision 3"

step "the server's logs"
for _ in 1 2 3 4 5 6; do http_get "http://$ip/" >/dev/null; done
logged() { k logs -l app=web --tail=-1 --prefix | grep '"GET / HTTP/1.1" 200' >/dev/null; }
retry 30 logged || fail "no request showed in the logs"
k logs -l app=web --tail=2 --prefix

step "node-1 cordoned and drained"
k cordon node-1
k drain node-1 --ignore-daemonsets --timeout=120s
on_node_1() { k get pods -l app=web --field-selector spec.nodeName=node-1 -o name; }
[ -z "$(on_node_1)" ] || fail "pods are still on node-1 after the drain"
retry 60 three_ready || fail "the drained pods did not come back on node-2"
k get pods -o wide
http_get "http://$ip/" >/dev/null || fail "the Service stopped answering after the drain"
k uncordon node-1

step "clean up"
k delete service web web-lb
k delete deployment web
gone() { [ -z "$(k get pods -l app=web -o name)" ]; }
retry 60 gone || fail "the Deployment's pods were not removed"

echo
echo "tour: every step passed"
