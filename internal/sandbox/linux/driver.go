//go:build linux

// Package linux is the isolating sandbox driver: every execution environment gets its own pid,
// mount, ipc, uts and network namespaces, a root built from read-only host /usr, a generated
// /etc and the function's code at /var/task, a size-limited /tmp, a cgroup (v1 or v2) that
// enforces memory, CPU and process limits, an unprivileged user without capabilities and a
// seccomp filter. Its Runtime API listens on 127.0.0.1:9001 inside its own network namespace,
// where no other environment and nothing on the host's loopback can be reached.
//
// It does not decide limits (the Spec does) nor know about invocations.
package linux

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lambent/lambent/internal/sandbox"
)

// RuntimeAPIAddr is where a sandbox's Runtime API listens, inside the sandbox.
const RuntimeAPIAddr = "127.0.0.1:9001"

// Options configure the driver.
type Options struct {
	// StateDir holds the mount points of sandbox roots; it is swept at start.
	StateDir string
	// UID and GID the function runs as (AWS: 993 and 990).
	UID, GID int
	// Spares is how many sandboxes are kept started ahead of demand (default 2; -1 for none).
	Spares int
	// Network is NetworkNone (the default: only loopback) or NetworkEgress (a veth pair to
	// the host, forwarded and masqueraded; see network.go).
	Network string
	Logger  *slog.Logger
}

// Driver starts isolated sandboxes.
type Driver struct {
	opts   Options
	cg     cgroups
	self   string
	hostNS *os.File
	egress *egress // nil unless Options.Network is NetworkEgress

	spares chan *box // pre-started sandboxes waiting for a function
	seq    atomic.Uint64

	mu        sync.Mutex
	closed    bool
	refilling bool
	wg        sync.WaitGroup
}

// New checks that this machine can isolate functions and returns the driver, or an error
// wrapping sandbox.ErrUnavailable that says what is missing.
func New(opts Options) (*Driver, error) {
	if opts.UID == 0 {
		opts.UID, opts.GID = 993, 990
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	unavailable := func(format string, a ...any) error {
		return fmt.Errorf("%w: linux: "+format, append([]any{sandbox.ErrUnavailable}, a...)...)
	}
	if os.Geteuid() != 0 {
		return nil, unavailable("needs root (namespaces, mounts and cgroups); run as root or use --sandbox=process on a development machine")
	}
	cg, err := detectCgroups(Instance(opts.StateDir))
	if err != nil {
		return nil, unavailable("%v", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, unavailable("cannot find own executable to start sandbox init: %v", err)
	}
	hostNS, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return nil, unavailable("network namespaces: %v", err)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, err
	}
	if opts.Spares == 0 {
		opts.Spares = 2
	}
	d := &Driver{opts: opts, cg: cg, self: self, hostNS: hostNS, spares: make(chan *box, max(opts.Spares, 0))}
	switch opts.Network {
	case "", NetworkNone:
	case NetworkEgress:
		if d.egress, err = newEgress(Instance(opts.StateDir)); err != nil {
			return nil, unavailable("network egress: %v", err)
		}
	default:
		return nil, fmt.Errorf("linux: unknown network %q: want %s or %s", opts.Network, NetworkNone, NetworkEgress)
	}
	if err := d.sweep(); err != nil {
		opts.Logger.Warn("sweeping sandboxes of an earlier run", "err", err)
	}
	d.refill()
	return d, nil
}

// Instance names the cgroup group (lambent/INSTANCE) of the sandboxes of the driver whose
// state is in stateDir: servers with different state never touch each other's sandboxes.
func Instance(stateDir string) string {
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(stateDir))
	return hex.EncodeToString(sum[:6])
}

// Name implements sandbox.Driver.
func (*Driver) Name() string { return "linux" }

// CgroupVersion says which cgroup hierarchy the driver uses.
func (d *Driver) CgroupVersion() string { return d.cg.version() }

// sweep removes what sandboxes of a crashed server left: cgroups (killing their processes)
// and root mount points.
func (d *Driver) sweep() error {
	err := d.cg.sweep()
	entries, _ := os.ReadDir(d.opts.StateDir)
	for _, e := range entries {
		p := filepath.Join(d.opts.StateDir, e.Name())
		unix.Unmount(p, unix.MNT_DETACH)
		err = errors.Join(err, os.RemoveAll(p))
	}
	return err
}

// Start implements sandbox.Driver: it takes a pre-started sandbox (or starts one), tells its
// init which function to run, and returns once the entrypoint has been executed.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	s, err := d.takeSpare()
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", spec.ID, err)
	}
	ok := false
	defer func() {
		if !ok {
			s.Kill()
		}
	}()
	// The runtime's init may use every core (it is bounded by the init timeout); InitDone
	// applies the function's CPU share.
	lim := limitsFor(spec.MemoryMB)
	s.cpuQuota = lim.CPUQuota
	lim.CPUQuota = int64(runtime.NumCPU()) * cpuPeriod
	if err := s.cg.update(lim); err != nil {
		return nil, fmt.Errorf("sandbox %s: limits: %w", spec.ID, err)
	}
	msg, _ := json.Marshal(specialization{
		CodeDir: spec.CodeDir, RuntimeDir: spec.RuntimeDir, OptDir: spec.OptDir,
		Entrypoint: spec.Entrypoint, Args: spec.Args, TmpMB: max(spec.EphemeralStorageMB, 512),
		Env: append(append([]string(nil), spec.Env...), "LAMBDA_TASK_ROOT="+sandbox.TaskRoot,
			"LAMBDA_RUNTIME_DIR="+sandbox.RuntimeDir, "_LAMBENT_OPT_DIR="+sandbox.OptDir, "AWS_LAMBDA_RUNTIME_API="+RuntimeAPIAddr),
	})
	if err := unix.Sendmsg(s.ctl, msg, unix.UnixRights(int(spec.Output.Fd())), nil, 0); err != nil {
		return nil, fmt.Errorf("sandbox %s: configure init: %w", spec.ID, err)
	}
	// The status pipe closes when init execs the entrypoint; anything written is a failure.
	status, _ := io.ReadAll(s.status)
	s.status.Close()
	unix.Close(s.ctl)
	s.ctl = -1
	if len(status) > 0 {
		return nil, initError(spec, string(status))
	}
	s.cg.resetPeak() // what init used before exec is not the function's
	s.srv = &http.Server{Handler: spec.RuntimeAPI, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln)
	ok = true
	return s, nil
}

// takeSpare returns a pre-started sandbox, or starts one when none is ready, and has the
// pool refilled in the background.
func (d *Driver) takeSpare() (*box, error) {
	defer d.refill()
	select {
	case s := <-d.spares:
		if s.alive() {
			return s, nil
		}
		s.Kill()
	default:
	}
	return d.prestart()
}

// refill starts spares until the pool is full, one goroutine at a time, until Close.
func (d *Driver) refill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.refilling || len(d.spares) == cap(d.spares) {
		return
	}
	d.refilling = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			d.mu.Lock()
			if d.closed || len(d.spares) == cap(d.spares) {
				d.refilling = false
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
			s, err := d.prestart()
			d.mu.Lock()
			if err != nil || d.closed {
				d.refilling = false
				d.mu.Unlock()
				if err != nil {
					d.opts.Logger.Warn("pre-starting a sandbox", "err", err)
				} else {
					s.Kill()
				}
				return
			}
			d.spares <- s // room was checked above and only this goroutine adds
			d.mu.Unlock()
		}
	}()
}

// Close kills the spare sandboxes and stops making new ones. Sandboxes already handed out
// are their holders' to kill.
func (d *Driver) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
	for {
		select {
		case s := <-d.spares:
			s.Kill()
		default:
			if d.egress != nil {
				d.egress.close()
			}
			return
		}
	}
}

// prestart starts a sandbox up to the point where it waits for a function: namespaces, cgroup,
// Runtime API listener, and a root without code.
func (d *Driver) prestart() (*box, error) {
	id := "s" + strconv.FormatUint(d.seq.Add(1), 36) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	root := filepath.Join(d.opts.StateDir, id)
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, err
	}
	s := &box{root: root, done: make(chan struct{}), ctl: -1}
	ok := false
	defer func() {
		if !ok {
			s.Kill()
		}
	}()
	var err error
	if s.cg, err = d.cg.create(id, limitsFor(function0MB)); err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	s.ctl = fds[0]
	child := os.NewFile(uintptr(fds[1]), "ctl")
	defer child.Close()
	statR, statW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statW.Close()
	s.status = statR

	cmd := exec.Command(d.self, InitArg)
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{child, statW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if s.ln, err = d.startInNetns(cmd); err != nil {
		return nil, err
	}
	s.cmd = cmd
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.oom = s.cg.oomKilled()
		s.mu.Unlock()
		close(s.done)
	}()
	if d.egress != nil {
		if s.veth, err = d.egress.attach(cmd.Process.Pid); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	if err := s.cg.add(cmd.Process.Pid); err != nil {
		return nil, fmt.Errorf("join cgroup: %w", err)
	}
	msg, _ := json.Marshal(initConfig{Root: root, UID: d.opts.UID, GID: d.opts.GID, Hostname: "sandbox", ResolvConf: d.resolvConf()})
	if err := unix.Sendmsg(s.ctl, msg, nil, nil, 0); err != nil {
		return nil, fmt.Errorf("configure init: %w", err)
	}
	ok = true
	return s, nil
}

// function0MB is the memory limit of a spare before it is given a function: the largest a
// function may have.
const function0MB = 10240

// initError turns what init reported into an error; a missing or unrunnable entrypoint wraps
// fs.ErrNotExist or fs.ErrPermission as the sandbox contract asks.
func initError(spec sandbox.Spec, msg string) error {
	kind, detail, _ := strings.Cut(msg, ":")
	if kind == "exec" {
		code, path, _ := strings.Cut(detail, ":")
		if n, err := strconv.Atoi(code); err == nil {
			errno := syscall.Errno(n)
			return fmt.Errorf("sandbox %s: exec %s: %w", spec.ID, path, &fs.PathError{Op: "exec", Path: path, Err: errno})
		}
	}
	return fmt.Errorf("sandbox %s: init: %s", spec.ID, detail)
}

// startInNetns starts cmd in a new network namespace whose loopback carries the sandbox's
// Runtime API listener. The namespace is entered on a locked OS thread, the listener opened and
// the process forked there; the thread then returns to the host's namespace.
func (d *Driver) startInNetns(cmd *exec.Cmd) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ln, err := d.forkInNewNetns(cmd)
		if err := unix.Setns(int(d.hostNS.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		} // else: the goroutine ends locked and Go discards the thread with its namespace
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

func (d *Driver) forkInNewNetns(cmd *exec.Cmd) (net.Listener, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("new network namespace: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", RuntimeAPIAddr)
	if err != nil {
		return nil, fmt.Errorf("runtime api listener: %w", err)
	}
	if err := cmd.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("start init: %w", err)
	}
	return ln, nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// box is one running sandbox.
type box struct {
	root   string
	cg     cgroup
	cmd    *exec.Cmd
	ln     net.Listener
	srv    *http.Server
	ctl    int      // control socket to init, until the entrypoint runs
	status *os.File // closes when init execs the entrypoint
	done   chan struct{}

	cpuQuota int64 // the function's CPU share, applied by InitDone
	veth     *veth // with egress

	mu   sync.Mutex
	err  error
	oom  bool // the memory limit killed a process
	once sync.Once
	peak int64
}

func (s *box) Done() <-chan struct{} { return s.done }

func (s *box) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Err says how the entrypoint ended; it wraps sandbox.ErrOutOfMemory after an OOM kill.
func (s *box) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oom {
		return fmt.Errorf("%w: %w", sandbox.ErrOutOfMemory, s.err)
	}
	return s.err
}

func (s *box) MaxMemoryBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cg != nil {
		s.peak = max(s.peak, s.cg.peakMemory())
	}
	return s.peak
}

// InitDone gives the function its CPU share once its runtime has initialised.
func (s *box) InitDone() error { return s.cg.setCPU(s.cpuQuota) }

// Freeze stops every process of the sandbox until Thaw.
func (s *box) Freeze() error { return s.cg.freeze() }

// Thaw resumes a frozen sandbox.
func (s *box) Thaw() error { return s.cg.thaw() }

// Kill ends the sandbox: killing PID 1 of its pid namespace takes every process with it.
func (s *box) Kill() error {
	s.once.Do(s.cleanup)
	return nil
}

func (s *box) cleanup() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cg.thaw()
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		s.MaxMemoryBytes()
	}
	if s.ctl >= 0 {
		unix.Close(s.ctl)
	}
	if s.status != nil {
		s.status.Close()
	}
	if s.srv != nil {
		s.srv.Close()
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.cg != nil {
		s.cg.kill()
		s.cg.remove()
	}
	s.veth.release()
	os.Remove(s.root)
}

var _ sandbox.Driver = (*Driver)(nil)
