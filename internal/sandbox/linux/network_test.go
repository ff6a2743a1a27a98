//go:build linux

package linux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/lambent/lambent/internal/sandbox"
)

// testHost is a web server in a network namespace of its own, linked to the host by a veth
// with addresses in 198.18.0.0/15 (benchmarking, never routed): the only "outside" host the
// egress tests contact.
const testHostIP = "198.18.0.2"

func newTestHost(t *testing.T) {
	t.Helper()
	const hostSide = "ltesthost0"
	if l, err := netlink.LinkByName(hostSide); err == nil {
		netlink.LinkDel(l)
	}
	type result struct {
		ns  netns.NsHandle
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New() // and the thread is in it
		if err != nil {
			ch <- result{err: err}
			return
		}
		r := result{ns: ns}
		r.err = loopbackUp()
		if r.err == nil {
			r.err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: hostSide,
				PeerNamespace: netlink.NsFd(int(orig))})
		}
		var eth0 netlink.Link
		if r.err == nil {
			eth0, r.err = netlink.LinkByName("eth0")
		}
		if r.err == nil {
			r.err = netlink.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(testHostIP), Mask: net.CIDRMask(30, 32)}})
		}
		if r.err == nil {
			r.err = netlink.LinkSetUp(eth0)
		}
		if r.err == nil {
			r.ln, r.err = net.Listen("tcp", testHostIP+":8080")
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- r
	}()
	r := <-ch
	if r.err != nil {
		t.Skipf("cannot make a test host in a network namespace: %v", r.err)
	}
	host, err := netlink.LinkByName(hostSide)
	if err == nil {
		err = netlink.AddrAdd(host, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("198.18.0.1"), Mask: net.CIDRMask(30, 32)}})
	}
	if err == nil {
		err = netlink.LinkSetUp(host)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "TEST-HOST") })}
	go srv.Serve(r.ln)
	t.Cleanup(func() {
		srv.Close()
		if l, err := netlink.LinkByName(hostSide); err == nil {
			netlink.LinkDel(l)
		}
		r.ns.Close()
	})
}

func newEgressDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(Options{StateDir: t.TempDir(), Network: NetworkEgress, Spares: -1})
	if err != nil {
		if errors.Is(err, sandbox.ErrUnavailable) {
			t.Skipf("egress needs root, netlink and nftables: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// start runs script as a function's bootstrap and returns the sandbox and its output.
func start(t *testing.T, d *Driver, script string) (*box, <-chan string) {
	t.Helper()
	code := scriptCode(t, script)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := d.Start(context.Background(), sandbox.Spec{
		ID: fmt.Sprintf("net%d", seq.Add(1)), CodeDir: code, Entrypoint: "bootstrap",
		Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 256, EphemeralStorageMB: 512,
		RuntimeAPI: http.NotFoundHandler(), Output: w,
	})
	w.Close()
	if err != nil {
		r.Close()
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { sb.Kill() })
	out := make(chan string, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(r, 1<<20)); r.Close(); out <- string(b) }()
	return sb.(*box), out
}

func connect(addr string) string {
	return fmt.Sprintf("timeout 5 python3 -c \"import socket; s=socket.create_connection(('%s', %s), 1); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print('GOT', s.recv(200))\" 2>&1 | tail -1\n",
		strings.Split(addr, ":")[0], strings.Split(addr, ":")[1])
}

func TestNetwork(t *testing.T) {
	newTestHost(t)
	// A server of the host's on every address: what the Lambent API on 0.0.0.0 would be.
	hostLn, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go http.Serve(hostLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "HOST-SERVER") }))
	hostPort := fmt.Sprint(hostLn.Addr().(*net.TCPAddr).Port)
	testHost := testHostIP + ":8080"

	t.Run("none", func(t *testing.T) {
		out, err := run(t, newDriver(t), connect(testHost)+"cat /proc/net/dev /etc/resolv.conf\n", 256, 512, 20*time.Second)
		t.Logf("output: %s (err %v)", out, err)
		if strings.Contains(out, "TEST-HOST") || !strings.Contains(out, "unreachable") {
			t.Errorf("a sandbox without network reached (or did not fail to reach) the test host: %q", out)
		}
		if strings.Contains(out, "eth0") || strings.Contains(out, "nameserver") {
			t.Errorf("a sandbox without network has an eth0 or name servers: %q", out)
		}
	})

	d := newEgressDriver(t)
	prefix := d.egress.prefix
	a, outA := start(t, d, "sleep 30\n")
	hostA, ipA := a.veth.addrs()
	// B listens on its address; it says when it is ready by answering the host.
	b, outB := start(t, d, "exec python3 -c \"import socket,sys\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 8080)); s.listen()\nwhile True:\n  c,_=s.accept(); c.sendall(b'SANDBOX-B'); c.close()\"\n")
	_, ipB := b.veth.addrs()
	var reachedB bool
	for range 50 {
		if c, err := net.DialTimeout("tcp", ipB.String()+":8080", time.Second); err == nil {
			buf, _ := io.ReadAll(c)
			c.Close()
			reachedB = string(buf) == "SANDBOX-B"
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !reachedB {
		t.Fatalf("the host cannot reach sandbox B's server at %s", ipB)
	}
	t.Logf("sandbox A %s (host side %s), sandbox B %s", ipA, hostA, ipB)

	cases := []struct {
		name, script string
		want, not    string
	}{
		{"reaches the test host", connect(testHost), "TEST-HOST", ""},
		{"resolv.conf has the host's name servers", "cat /etc/resolv.conf; echo END\n", strings.TrimSpace(hostResolvConf()) + "\nEND", ""},
		{"cannot reach the host via its veth", connect(hostA.String() + ":" + hostPort), "timed out", "HOST-SERVER"},
		{"cannot reach the host via the test host's link", connect("198.18.0.1:" + hostPort), "timed out", "HOST-SERVER"},
		{"cannot reach the host's loopback", connect("127.0.0.1:" + hostPort), "refused", "HOST-SERVER"},
		{"cannot reach sandbox B", connect(ipB.String() + ":8080"), "timed out", "SANDBOX-B"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _ := run(t, d, c.script, 256, 512, 20*time.Second)
			if !strings.Contains(out, c.want) || c.not != "" && strings.Contains(out, c.not) {
				t.Errorf("output %q; want %q", out, c.want)
			}
		})
	}

	// Clean-up: Kill removes the veths, Close the table.
	a.Kill()
	b.Kill()
	<-outA
	<-outB
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, prefix) {
			t.Errorf("veth %s left after Kill", l.Attrs().Name)
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTableOfFamily(d.egress.table.Name, nftables.TableFamilyINet); err != nil {
		t.Errorf("no nft table while the driver runs: %v", err)
	}
	d.Close()
	if _, err := c.ListTableOfFamily(d.egress.table.Name, nftables.TableFamilyINet); err == nil {
		t.Errorf("nft table %s left after Close", d.egress.table.Name)
	}
}
