# Per-node pieces of up.sh (sourced after common.sh): each node has its own
# containerd (socket, root, state), CNI bridge and subnet, kubelet (address,
# root dir, cgroup root, client certificate).

start_containerd() { # start_containerd N
  local n=$1 d; d=$(node_dir "$1")
  mkdir -p "$d/containerd" "$d/cni/net.d"
  cat > "$d/containerd/config.toml" <<CFG
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$(node_sock "$n")"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/$(image_repo pause)"
  # This machine's root has no CAP_SYS_RESOURCE: runc cannot lower oom_score_adj
  # (sandbox -998, Guaranteed pods -997) -> "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$S/registry/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
    max_conf_num = 1
CFG
  # Pods route the whole pod range via their bridge: the host forwards
  # between the nodes' bridges, so pods on different nodes reach each other;
  # and the service range, which kube-proxy's rules on the host translate.
  cat > "$d/cni/net.d/10-pixie-e2e-$n.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "pixie-e2e-$n",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(node_bridge "$n")",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$d/cni/ipam",
        "ranges": [[{"subnet": "$(node_cidr "$n")"}]],
        "routes": [{"dst": "$POD_RANGE"}, {"dst": "$SERVICE_CIDR"}]
      }
    }
  ]
}
CNI
  start_bg "containerd-$(node_name "$n")" containerd --config "$d/containerd/config.toml" --log-level warn
}

start_kubelet() { # start_kubelet N
  local n=$1 d name ip taints=""
  d=$(node_dir "$n") name=$(node_name "$n") ip=$(node_ip "$n")
  [ "$n" = 1 ] || taints="registerWithTaints: [{key: \"$EXTRA_TAINT\", value: \"true\", effect: NoSchedule}]"
  # cgroupRoot must exist in every hierarchy before the kubelet starts
  for h in /sys/fs/cgroup/*/; do [ -L "${h%/}" ] || mkdir -p "$h$name"; done
  mkdir -p "$d/kubelet" "$d/pod-logs"
  cat > "$d/kubelet/config.yaml" <<KCFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: $ip
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$PKI/kubelet-$name.crt"
tlsPrivateKeyFile: "$PKI/kubelet-$name.key"
rotateCertificates: false
serverTLSBootstrap: false
containerRuntimeEndpoint: "unix://$(node_sock "$n")"
cgroupDriver: cgroupfs
cgroupRoot: /$name
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0            # default -999 needs CAP_SYS_RESOURCE (missing here)
makeIPTablesUtilChains: false
podLogsDir: "$d/pod-logs"
volumePluginDir: "$d/kubelet/volume-plugins"
resolvConf: /etc/resolv.conf
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_IP]
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
$taints
KCFG
  start_bg "kubelet-$name" "$BIN/kubelet" --config="$d/kubelet/config.yaml" \
    --kubeconfig="$PKI/kubelet-$name.kubeconfig" --root-dir="$d/kubelet" --cert-dir="$d/kubelet/pki" \
    --hostname-override="$name" --node-ip="$ip" --v=1
}
