//go:build linux

package linux

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The values of Options.Network.
const (
	// NetworkNone gives a sandbox only its loopback (the Runtime API): no route out.
	NetworkNone = "none"
	// NetworkEgress gives every sandbox a veth pair to the host, whose traffic the host
	// forwards and masquerades; sandboxes cannot reach the host itself nor each other.
	NetworkEgress = "egress"
)

// vethPrefix starts the name of the host side of every sandbox's veth pair. The firewall
// matches it, so it is common to all Lambent servers on the host.
const vethPrefix = "lbt"

// egressPool holds the /30 of every sandbox: .1 the host side, .2 the sandbox's eth0.
var egressPool = net.IPNet{IP: net.IPv4(169, 254, 64, 0).To4(), Mask: net.CIDRMask(18, 32)}

// egress is the host side of NetworkEgress: address slots, veth names and the nftables table.
type egress struct {
	prefix string // vethPrefix + part of the instance: this driver's veths
	table  *nftables.Table
	resolv string // the sandboxes' /etc/resolv.conf

	mu   sync.Mutex
	used map[int]bool
	next int
}

// veth is a sandbox's link to the host; release deletes it.
type veth struct {
	n    *egress
	slot int
	name string
}

// newEgress enables forwarding, removes veths a crashed server of this instance left and
// (re)creates the firewall table.
func newEgress(instance string) (*egress, error) {
	n := &egress{
		prefix: vethPrefix + instance[:4],
		table:  &nftables.Table{Family: nftables.TableFamilyINet, Name: "lambent_" + instance},
		resolv: hostResolvConf(),
		used:   map[int]bool{},
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, n.prefix) {
			netlink.LinkDel(l)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("enabling ip forwarding: %w", err)
	}
	if err := n.firewall(); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return n, nil
}

// firewall (re)creates the table:
//
//	forward:     iifname "lbt*" oifname "lbt*" drop            (no sandbox reaches another)
//	input:       iifname "lbt*" ct state established,related accept
//	             iifname "lbt*" drop                             (nor the host itself)
//	postrouting: iifname "lbtINST*" oifname != "lbt*" masquerade
func (n *egress) firewall() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	c.AddTable(n.table)
	c.DelTable(n.table) // an atomic re-creation: the table is gone or new, never half made
	t := c.AddTable(n.table)
	accept := nftables.ChainPolicyAccept
	forward := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	input := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	ifname := func(key expr.MetaKey, op expr.CmpOp, prefix string) []expr.Any {
		// Comparing only len(prefix) bytes is nft's `iifname "prefix*"`.
		return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: []byte(prefix)}}
	}
	rule := func(ch *nftables.Chain, parts ...[]expr.Any) {
		var exprs []expr.Any
		for _, p := range parts {
			exprs = append(exprs, p...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	}
	verdict := func(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }
	established := []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
	rule(forward, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, vethPrefix), ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, vethPrefix), verdict(expr.VerdictDrop))
	rule(input, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, vethPrefix), established, verdict(expr.VerdictAccept))
	rule(input, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, vethPrefix), verdict(expr.VerdictDrop))
	rule(post, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, n.prefix), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, vethPrefix), []expr.Any{&expr.Masq{}})
	return c.Flush()
}

// close removes the firewall table.
func (n *egress) close() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	c.DelTable(n.table)
	return c.Flush()
}

// attach gives the network namespace of process pid an eth0 linked to a new host veth, with
// a default route through the host.
func (n *egress) attach(pid int) (v *veth, err error) {
	n.mu.Lock()
	size := 1 << (32 - 18 - 2)
	slot := -1
	for i := range size {
		if s := (n.next + i) % size; !n.used[s] {
			slot = s
			break
		}
	}
	if slot < 0 {
		n.mu.Unlock()
		return nil, errors.New("no free address in the egress pool")
	}
	n.used[slot] = true
	n.next = (slot + 1) % size
	n.mu.Unlock()
	v = &veth{n: n, slot: slot, name: n.prefix + strconv.FormatInt(int64(slot), 36)}
	defer func() {
		if err != nil {
			v.release()
			v = nil // released once: the slot may be someone else's next
		}
	}()
	hostIP, sandboxIP := v.addrs()
	addr := func(ip net.IP) *netlink.Addr {
		return &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(30, 32)}}
	}
	gw := addr(hostIP)
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.name}, PeerName: "eth0",
		PeerNamespace: netlink.NsPid(pid)}); err != nil {
		return v, fmt.Errorf("veth: %w", err)
	}
	host, err := netlink.LinkByName(v.name)
	if err == nil {
		err = netlink.AddrAdd(host, gw)
	}
	if err == nil {
		err = netlink.LinkSetUp(host)
	}
	if err != nil {
		return v, fmt.Errorf("host side of veth: %w", err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return v, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return v, err
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err == nil {
		err = h.AddrAdd(eth0, addr(sandboxIP))
	}
	if err == nil {
		err = h.LinkSetUp(eth0)
	}
	if err == nil {
		err = h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw.IP})
	}
	if err != nil {
		return v, fmt.Errorf("sandbox side of veth: %w", err)
	}
	return v, nil
}

// addrs are the host's and the sandbox's ends of the veth's /30.
func (v *veth) addrs() (host, sandbox net.IP) {
	at := func(n byte) net.IP {
		ip := make(net.IP, 4)
		copy(ip, egressPool.IP)
		ip[2] += byte(v.slot >> 6)
		ip[3] = byte(v.slot&63)<<2 | n
		return ip
	}
	return at(1), at(2)
}

// release deletes the veth pair (the kernel would, late, when the namespace goes) and frees
// its addresses. A nil veth is a sandbox without egress.
func (v *veth) release() {
	if v == nil {
		return
	}
	if l, err := netlink.LinkByName(v.name); err == nil {
		netlink.LinkDel(l)
	}
	v.n.mu.Lock()
	delete(v.n.used, v.slot)
	v.n.mu.Unlock()
}

// hostResolvConf is the host's name servers that a sandbox can reach: not loopback ones
// (a sandbox's loopback is its own). Behind systemd-resolved's stub, the upstream servers.
func hostResolvConf() string {
	for _, p := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var b strings.Builder
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[0] != "nameserver" {
				continue
			}
			if ip := net.ParseIP(fields[1]); ip != nil && !ip.IsLoopback() {
				fmt.Fprintf(&b, "nameserver %s\n", fields[1])
			}
		}
		f.Close()
		if b.Len() > 0 {
			return b.String()
		}
	}
	return ""
}

// resolvConf is the sandboxes' /etc/resolv.conf: name servers only with egress.
func (d *Driver) resolvConf() string {
	if d.egress == nil {
		return ""
	}
	return d.egress.resolv
}
