//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Ports of this benchmark's own control plane: not the e2e cluster's
// (2379/2380, 6443, 10250 on 198.51.100.N), so both can run at once.
const (
	etcdClientPort = 24379
	etcdPeerPort   = 24380
	apiserverPort  = 17443
	kubeletPort    = 17250
	kubeletName    = "fanin-kubelet" // the serving certificate's name
)

// cluster is etcd and a real kube-apiserver; there is no scheduler,
// controller manager or kubelet: the simulated nodes (nodes.go) stand in
// for the kubelets.
type cluster struct {
	dir        string
	procs      []*exec.Cmd
	apiserver  *exec.Cmd
	kubeconfig string
	client     kubernetes.Interface
}

func startCluster(dir string) (*cluster, error) {
	c := &cluster{dir: dir, kubeconfig: filepath.Join(dir, "pki", "admin.kubeconfig")}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "etcd"), 0o700); err != nil {
		return nil, err
	}
	pki := filepath.Join(dir, "pki")
	if out, err := exec.Command(*mkpkiBin, "-dir", pki, "-advertise-ip", "127.0.0.1",
		"-nodes", kubeletName+"=127.0.0.1", "-server", fmt.Sprintf("https://127.0.0.1:%d", apiserverPort)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkpki: %w: %s", err, out)
	}
	etcdURL := func(p int) string { return "http://127.0.0.1:" + strconv.Itoa(p) }
	if err := c.start("etcd", *etcdBin, "--name", "fanin", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL(etcdClientPort), "--advertise-client-urls", etcdURL(etcdClientPort),
		"--listen-peer-urls", etcdURL(etcdPeerPort), "--initial-advertise-peer-urls", etcdURL(etcdPeerPort),
		"--initial-cluster", "fanin="+etcdURL(etcdPeerPort), "--log-level", "warn"); err != nil {
		return nil, err
	}
	if err := waitFor(30*time.Second, "etcd", func() bool {
		r, err := http.Get(etcdURL(etcdClientPort) + "/health")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	}); err != nil {
		c.stop()
		return nil, err
	}
	p := func(f string) string { return filepath.Join(pki, f) }
	if err := c.start("kube-apiserver", *apiserverBin,
		"--etcd-servers="+etcdURL(etcdClientPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(apiserverPort),
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--kubelet-client-certificate="+p("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+p("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range=10.97.0.0/24",
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--profiling=false", "--v=0"); err != nil {
		c.stop()
		return nil, err
	}
	c.apiserver = c.procs[len(c.procs)-1]
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		c.stop()
		return nil, err
	}
	// the simulator stands in for hundreds of kubelets: no client-side limit
	cfg.QPS, cfg.Burst = -1, 0
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		c.stop()
		return nil, err
	}
	if err := waitFor(90*time.Second, "kube-apiserver", func() bool {
		_, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		return err == nil
	}); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) start(name, bin string, args ...string) error {
	log, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// stop ends the control plane, the API server first, and removes its state.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(c.dir)
}

// apiserverCPU is the API server's CPU time so far.
func (c *cluster) apiserverCPU() time.Duration { return procCPU(c.apiserver.Process.Pid) }

// procCPU reads a process's user+system time from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func waitFor(d time.Duration, what string, ok func() bool) error {
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			return errors.New("timed out waiting for " + what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}
