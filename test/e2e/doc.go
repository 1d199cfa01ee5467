// Package e2e holds the cluster end-to-end tests of kubectl pixie
// (//go:build e2e). `make e2e` builds and starts a real single-node cluster
// (test/e2e/cluster), imports the probe image and runs them; by hand:
//
//	make e2e-up
//	KUBECONFIG=$PWD/test/e2e/cluster/state/pki/admin.kubeconfig PIXIE_BIN=$PWD/bin/kubectl-pixie \
//	  go test -tags e2e -v ./test/e2e/
//
// Every test ends by asserting that no probe pod remains.
package e2e
