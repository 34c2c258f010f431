# Sourced by ./up --with-node after the control plane is healthy: starts one real node
# (containerd + Debian runc, CNI bridge, kubelet, kube-scheduler, kube-router's firewall).
# Uses up's helpers (start, wait_for, fail, sign, kubeconfig, kc, log) and variables
# (state, pki, bin, node_dir, timeout, api_port). See README.md "The opt-in node".
#
# One node per machine: kube-router's firewall owns the host's KUBE-ROUTER-* chains and
# removes what it does not know, so two of them would fight. /run/baseline-test-node.owner
# names the state dir of the node that runs; ./down removes it.

node_name="baseline-node"
node_owner_file=/run/baseline-test-node.owner
node_state="$state/node"

current="node (preflight)"
[[ "$(id -u)" == 0 ]] || fail node "the node needs root (containerd, runc, bridges, iptables)"
other_node_running() {
  local other name pid start
  other="$(cat "$node_owner_file" 2>/dev/null)" || return 1
  [[ -n "$other" && "$other" != "$state" && -e "$other/has-node" ]] || return 1
  # Only a live process the other state dir started counts (the same pid and start time): a
  # node whose processes died without ./down (its session was stopped) runs nothing, and its
  # owner file must not block every later node on the machine.
  while read -r name pid start; do
    [[ -n "$pid" && "$(starttime "$pid" 2>/dev/null)" == "$start" ]] && return 0
  done 2>/dev/null <"$other/pids"
  return 1
}
# Test binaries run one after another, and the previous one's watchdog stops its node a
# moment after that process exits: wait for it (bounded) before calling it a conflict.
node_wait_deadline=$((SECONDS + timeout))
while other_node_running; do
  ((SECONDS < node_wait_deadline)) ||
    fail node "another test node is running (state dir $(cat "$node_owner_file")); one node per machine"
  sleep 1
done
echo "$state" >"$node_owner_file"
mkdir -p "$node_state"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs}
echo "node" >"$state/has-node"

# ---- kernel prerequisites (a machine-wide switch, left on by ./down) ------------------
modprobe br_netfilter 2>/dev/null || true
[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] ||
  fail node "br_netfilter is not loaded: bridged pod traffic would bypass NetworkPolicy rules"
# Pods talk to each other over the bridge (layer 2) and to the node by local delivery, so
# IP forwarding stays as it is (off on these machines): nothing is routed off the node.
sysctl -qw net.bridge.bridge-nf-call-iptables=1 >/dev/null ||
  fail node "sysctl net.bridge.bridge-nf-call-iptables=1 failed"

# ---- pod CIDR: the first 10.244.N.0/24 (N=200..250) no interface or route uses ---------
current="node (pod network)"
pod_net=""
for n in $(seq 200 250); do
  if ! ip -4 -o addr show | grep -q " 10\.244\.$n\." && ! ip -4 route show | grep -q "^10\.244\.$n\."; then
    pod_net="$n"; break
  fi
done
[[ -n "$pod_net" ]] || fail node "no free 10.244.N.0/24 (N=200..250) for the pod network"
pod_cidr="10.244.$pod_net.0/24"
node_ip="10.244.$pod_net.1"
bridge="blnode$pod_net"
# The bridge is created here (not by the CNI plugin) so its address can be the node IP the
# kubelet registers and the API server dials for exec/logs: reachable only on this host.
ip link add "$bridge" type bridge 2>/dev/null || fail node "ip link add $bridge type bridge failed"
ip addr add "$node_ip/24" dev "$bridge" || fail node "ip addr add $node_ip/24 dev $bridge failed"
ip link set "$bridge" up
cat >"$node_state/network.env" <<EOF
NODE_POD_CIDR=$pod_cidr
NODE_IP=$node_ip
NODE_BRIDGE=$bridge
EOF
rule_tag="baseline-test-node:$state"
# Pods reach each other, the node itself and nothing else: forwarded traffic from the pod
# network to any other destination is dropped, so a workload can never send a packet
# off this machine (the machine's rules allow only its own pods and loopback).
iptables -w -I FORWARD 1 -s "$pod_cidr" ! -d "$pod_cidr" -m comment --comment "$rule_tag" -j DROP
iptables -w -I FORWARD 1 -d "$pod_cidr" ! -s "$pod_cidr" -m comment --comment "$rule_tag" -j DROP
# The one Service that is routed: kubernetes.default (10.0.0.1:443) -> the API server on
# loopback, so in-cluster clients (the operator pod) work without kube-proxy.
sysctl -qw "net.ipv4.conf.$bridge.route_localnet=1" >/dev/null
iptables -w -t nat -I PREROUTING 1 -i "$bridge" -s "$pod_cidr" -d 10.0.0.1 -p tcp --dport 443 \
  -m comment --comment "$rule_tag" -j DNAT --to-destination "127.0.0.1:$api_port"
cat >"$node_state/cni/net.d/10-baseline.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "baseline-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$node_state/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
log "pod network $pod_cidr on bridge $bridge (node IP $node_ip)"

# ---- certificates and kubeconfigs ------------------------------------------------------
current="node (certificates)"
sign kubelet "/CN=$node_name" \
  $'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:'"$node_ip"',DNS:'"$node_name"
sign kubelet-client "/O=system:nodes/CN=system:node:$node_name" "$client_ext"
sign scheduler "/CN=system:kube-scheduler" "$client_ext"
chmod 600 "$pki"/*.key
kubeconfig "$node_state/kubelet.kubeconfig" "system:node:$node_name" kubelet-client
kubeconfig "$node_state/scheduler.kubeconfig" system:kube-scheduler scheduler

read -r kubelet_port kubelet_healthz_port scheduler_port router_health_port < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
) || fail node "could not pick free ports"

# ---- containerd (Debian package) with Debian runc --------------------------------------
current="containerd"
sock="$node_state/containerd/containerd.sock"
cat >"$node_state/containerd/config.toml" <<EOF
version = 2
root = "$node_state/containerd/root"
state = "$node_state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$node_state/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/baseline-test/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # These machines withhold CAP_SYS_RESOURCE even from root: runc cannot lower a process's
  # oom_score_adj (the sandbox's -998 fails with "failed to update /proc/self/oom_score_adj:
  # Permission denied") nor raise a limit above the hard one. Clamp to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_state/cni/net.d"
    max_conf_num = 1
EOF
start containerd -- containerd --config "$node_state/containerd/config.toml"
ctr_() { ctr --address "$sock" -n k8s.io "$@"; }
wait_for containerd ctr_ version
for image in "$node_dir"/images/*.tar; do
  ctr_ images import "$image" >>"$state/logs/containerd.log" 2>&1 ||
    fail containerd "ctr images import $image failed"
done
log "containerd ready; images: $(ctr_ images list -q | tr '\n' ' ')"

# ---- kubelet ------------------------------------------------------------------------------
current="kubelet"
cat >"$node_state/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
# The machine's cgroups are hybrid v1; kubelet >= 1.35 refuses v1 unless told otherwise.
failCgroupV1: false
failSwapOn: false
podLogsDir: $node_state/pod-logs
resolvConf: ""
serializeImagePulls: false
maxPods: 50
evictionHard: {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
imageGCHighThresholdPercent: 100
imageMinimumGCAge: 24h
registerNode: true
staticPodPath: ""
EOF
start kubelet -- "$node_bin/kubelet" \
  --config "$node_state/kubelet-config.yaml" \
  --kubeconfig "$node_state/kubelet.kubeconfig" \
  --root-dir "$node_state/kubelet" \
  --hostname-override "$node_name" \
  --node-ip "$node_ip" \
  --v=1
echo "$kubelet_pid" >"$node_state/kubelet.pid"
kc_node_exists() { kc get node "$node_name"; }
wait_for kubelet kc_node_exists
# No node IPAM in the controller-manager: record the CIDR the harness picked on the Node.
kc patch node "$node_name" --type merge -p "{\"spec\":{\"podCIDR\":\"$pod_cidr\",\"podCIDRs\":[\"$pod_cidr\"]}}" \
  >>"$state/logs/kubelet.log" 2>&1 || fail kubelet "could not set the Node's podCIDR"
node_ready() { kc get node "$node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
wait_for kubelet node_ready
log "kubelet ready: node $node_name ($node_ip:$kubelet_port)"

# ---- kube-scheduler -------------------------------------------------------------------------
current="kube-scheduler"
start kube-scheduler "$scheduler_port" -- "$node_bin/kube-scheduler" \
  --kubeconfig "$node_state/scheduler.kubeconfig" \
  --authentication-kubeconfig "$node_state/scheduler.kubeconfig" \
  --authorization-kubeconfig "$node_state/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "$scheduler_port" \
  --leader-elect=false \
  --profiling=false \
  --v=1
scheduler_healthy() { curl -fsSk --max-time 2 "https://127.0.0.1:$scheduler_port/healthz" | grep -qx ok; }
wait_for kube-scheduler scheduler_healthy
log "kube-scheduler healthy"

# ---- kube-router: only its NetworkPolicy firewall ------------------------------------------
current="kube-router"
start kube-router "$router_health_port" -- "$node_bin/kube-router" \
  --kubeconfig "$state/kubeconfig" \
  --hostname-override "$node_name" \
  --run-firewall=true --run-router=false --run-service-proxy=false \
  --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
  --service-cluster-ip-range 10.0.0.0/24 \
  --health-port "$router_health_port" \
  --metrics-port 0 \
  --v=1
router_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$router_health_port/healthz" | grep -qi ok; }
wait_for kube-router router_healthy
log "kube-router firewall healthy"

# ./up appends this to STATE_DIR/env.
cat >"$node_state/env" <<EOF
export CLUSTER_NODE_NAME='$node_name'
export CLUSTER_NODE_IP='$node_ip'
export CLUSTER_POD_CIDR='$pod_cidr'
export CLUSTER_NODE_BRIDGE='$bridge'
export CLUSTER_NODE_DIR='$node_dir'
export CLUSTER_CONTAINERD_SOCK='$sock'
EOF
