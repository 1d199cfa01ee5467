//go:build linux

package agent

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
)

// maxListeners bounds the records of one scan.
const maxListeners = 4096

// listeningPorts finds the TCP sockets in LISTEN state under procRoot
// (/proc/net/tcp and tcp6) and the processes holding them.
func listeningPorts(procRoot string, traced func(uint32) bool) []api.ListeningPort {
	socks := map[string]netip.AddrPort{} // inode -> address
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		readListening(filepath.Join(procRoot, f), socks)
	}
	if len(socks) == 0 {
		return nil
	}
	dirs, _ := os.ReadDir(procRoot)
	var out []api.ListeningPort
	for _, d := range dirs {
		pid, err := strconv.ParseUint(d.Name(), 10, 32)
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, d.Name(), "fd")
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			inode, ok := strings.CutPrefix(link, "socket:[")
			if err != nil || !ok {
				continue
			}
			ap, ok := socks[strings.TrimSuffix(inode, "]")]
			if !ok || len(out) >= maxListeners {
				continue
			}
			out = append(out, api.ListeningPort{
				Header: api.Header{Table: api.TableListeningPorts, V: api.Version},
				Addr:   ap.Addr().String(), Port: ap.Port(), PID: uint32(pid),
				Comm: procs.Comm(procRoot, uint32(pid)), Traced: traced(uint32(pid)),
			})
		}
	}
	return out
}

// readListening adds the LISTEN sockets of a /proc/net/tcp file: inode ->
// local address. Lines it cannot read are skipped.
func readListening(path string, socks map[string]netip.AddrPort) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" {
			continue
		}
		if ap, ok := parseProcAddr(fields[1]); ok {
			socks[fields[9]] = ap
		}
	}
}

// parseProcAddr reads /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words in host order (little-endian here), the port in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	a, p, ok := strings.Cut(s, ":")
	b, err := hex.DecodeString(a)
	port, perr := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil || perr != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	var addr netip.Addr
	if len(b) == 4 {
		addr = netip.AddrFrom4([4]byte(b))
	} else {
		addr = netip.AddrFrom16([16]byte(b)).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}
