# Cluster DNS for up.sh (sourced after common.sh): CoreDNS (bin/coredns,
# built by build-coredns.sh) runs on the host as the one endpoint of the
# Service kube-system/kube-dns ($DNS_IP), which every kubelet hands its pods
# as their nameserver (clusterDNS), so `svc.ns.svc.cluster.local` and `svc`
# resolve in pods as on a kubeadm cluster. A host process rather than a
# Deployment: no image or RBAC to keep, and it starts before the first pod.

start_dns() {
  mkdir -p "$S/coredns"
  # names outside the cluster go to the host's resolver; ready (on the
  # node's address, away from the ports tests use) answers once the
  # kubernetes plugin has synced with the API server
  cat > "$S/coredns/Corefile" <<CORE
.:53 {
    bind $DNS_BIND
    errors
    ready $DNS_BIND:8181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $PKI/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
}
CORE
  kubectl apply -f - >/dev/null <<SVC
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: pixie-e2e}
addressType: IPv4
endpoints:
- addresses: [$DNS_BIND]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
SVC
  start_bg coredns "$BIN/coredns" -conf "$S/coredns/Corefile"
  wait_for 60 "CoreDNS ready" curl -sf "http://$DNS_BIND:8181/ready"
}
