# Sourced by ./down after the listed processes are stopped, when STATE_DIR/has-node exists:
# removes what the node left on the machine. Every step is idempotent and scoped to this
# cluster: its containerd socket, its pod CIDR, its bridge, its iptables comment tag.
#   - container processes (children of the containerd shims that served this cluster)
#   - pod network namespaces (those holding an address in this pod CIDR)
#   - mounts under STATE_DIR (volumes, rootfs, /dev/shm)
#   - the bridge and any veth left on it
#   - iptables rules tagged with this cluster, kube-router's chains and ipsets
#     (`kube-router --cleanup-config`), the kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY
#     and KUBE-IPTABLES-HINT chains
#   - the pods' cgroups (kubepods), when this cluster owned the machine's node

node_state="$state/node"
node_sock="$node_state/containerd/containerd.sock"
NODE_POD_CIDR="" NODE_BRIDGE=""
# shellcheck disable=SC1091
[[ -f "$node_state/network.env" ]] && . "$node_state/network.env"

# Container processes: every descendant of a shim started for this socket, then the shim.
shims=()
for p in /proc/[0-9]*; do
  cmd="$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" || continue
  [[ "$cmd" == *containerd-shim* && "$cmd" == *" -address $node_sock "* ]] && shims+=("${p#/proc/}")
done
descendants() { # descendants PID: all processes below PID
  local kids k
  kids="$(awk -v pp="$1" '{ s=$0; sub(/^[^)]*\) /, "", s); split(s, f, " "); if (f[2]==pp) print FILENAME }' \
    /proc/[0-9]*/stat 2>/dev/null | sed 's#/proc/##; s#/stat##')"
  for k in $kids; do
    echo "$k"
    descendants "$k"
  done
}
if ((${#shims[@]})); then
  victims=()
  for s in "${shims[@]}"; do
    mapfile -t -O "${#victims[@]}" victims < <(descendants "$s")
  done
  log "node: killing ${#victims[@]} container process(es) and ${#shims[@]} shim(s)"
  kill -KILL "${victims[@]}" "${shims[@]}" 2>/dev/null || true
  sleep 0.5
fi

# Pod network namespaces: the ones with an address in this cluster's pod CIDR.
if [[ -n "$NODE_POD_CIDR" ]]; then
  prefix="${NODE_POD_CIDR%.0/24}."
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    if ip -n "$ns" -4 -o addr show 2>/dev/null | grep -q " inet ${prefix//./\\.}"; then
      ip netns delete "$ns" 2>/dev/null && log "node: deleted netns $ns"
    fi
  done
fi

# Mounts below the state dir, deepest first.
awk -v s="$state/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
  umount -l "$m" 2>/dev/null || true
done

if [[ -n "$NODE_BRIDGE" ]] && ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  for v in $(ip -o link show master "$NODE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null || true
  done
  ip link del "$NODE_BRIDGE" 2>/dev/null && log "node: deleted bridge $NODE_BRIDGE"
fi

# iptables: our tagged rules, then kube-router's and the kubelet's chains.
rule_tag="baseline-test-node:$state"
for table in filter nat; do
  iptables-save -t "$table" 2>/dev/null | grep -F -- "\"$rule_tag\"" | grep '^-A ' | while read -r rule; do
    eval "iptables -w -t $table -D ${rule#-A }" 2>/dev/null || true
  done
done
owner_file=/run/baseline-test-node.owner
if [[ "$(cat "$owner_file" 2>/dev/null)" == "$state" ]]; then
  mapfile -d '' router_cmd <"$state/kube-router.cmd" 2>/dev/null || router_cmd=()
  if ((${#router_cmd[@]})) && [[ -x "${router_cmd[0]}" ]]; then
    timeout 60 "${router_cmd[0]}" --cleanup-config >>"$state/logs/kube-router-cleanup.log" 2>&1 ||
      log "node: kube-router --cleanup-config failed (see logs/kube-router-cleanup.log)"
  fi
  # The kubelet's own chains: KUBE-FIREWALL (jumped to from INPUT and OUTPUT), the
  # KUBE-KUBELET-CANARY chains and the KUBE-IPTABLES-HINT marker.
  for hook in INPUT OUTPUT; do
    while iptables -w -t filter -D "$hook" -j KUBE-FIREWALL 2>/dev/null; do :; done
  done
  for table in mangle nat filter; do
    for chain in KUBE-KUBELET-CANARY KUBE-FIREWALL KUBE-IPTABLES-HINT; do
      if iptables -w -t "$table" -n -L "$chain" >/dev/null 2>&1; then
        iptables -w -t "$table" -F "$chain" 2>/dev/null
        iptables -w -t "$table" -X "$chain" 2>/dev/null
      fi
    done
  done
  # The pods' cgroups (kubelet default cgroup root), deepest first; only empty ones go.
  for h in /sys/fs/cgroup/*/; do
    [[ -d "$h/kubepods" ]] || continue
    find "$h/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -f "$owner_file"
fi
rm -f "$state/has-node"
