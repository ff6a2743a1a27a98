// Package process is the plain-process sandbox driver: each environment is a child process
// group of the server with its own loopback Runtime API listener. It isolates nothing and
// enforces no limit; it exists for development machines where the Linux driver cannot run.
package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

// Driver starts plain processes.
type Driver struct{}

// New returns the process driver.
func New() *Driver { return &Driver{} }

// Name implements sandbox.Driver.
func (*Driver) Name() string { return "process" }

// Start implements sandbox.Driver.
func (*Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: runtime api listener: %w", spec.ID, err)
	}
	srv := &http.Server{Handler: spec.RuntimeAPI, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)

	args := make([]string, len(spec.Args))
	for i, a := range spec.Args {
		args[i] = spec.HostPath(a)
	}
	cmd := exec.Command(spec.HostPath(spec.Entrypoint), args...)
	cmd.Dir = spec.CodeDir
	cmd.Env = append(spec.HostEnv(spec.Env),
		"LAMBDA_TASK_ROOT="+spec.CodeDir,
		"LAMBDA_RUNTIME_DIR="+spec.HostPath(sandbox.RuntimeDir),
		"_LAMBENT_OPT_DIR="+spec.HostPath(sandbox.OptDir),
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	cmd.Stdout = spec.Output
	cmd.Stderr = spec.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startRetrying(ctx, cmd); err != nil {
		srv.Close()
		return nil, fmt.Errorf("sandbox %s: start %s: %w", spec.ID, spec.Entrypoint, err)
	}
	p := &proc{cmd: cmd, srv: srv, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.peak = max(p.peak, ru.Maxrss<<10) // kilobytes on Linux
		}
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// startRetrying starts cmd, retrying while its program is "text file busy": the code cache
// may just have written it, and a process forked meanwhile holds the write descriptor until it
// execs (golang.org/issue/22315).
func startRetrying(ctx context.Context, cmd *exec.Cmd) error {
	delay := 100 * time.Microsecond
	for {
		err := cmd.Start()
		if !errors.Is(err, syscall.ETXTBSY) || delay > 100*time.Millisecond {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
		*cmd = exec.Cmd{Path: cmd.Path, Args: cmd.Args, Dir: cmd.Dir, Env: cmd.Env,
			Stdout: cmd.Stdout, Stderr: cmd.Stderr, SysProcAttr: cmd.SysProcAttr}
	}
}

type proc struct {
	cmd  *exec.Cmd
	srv  *http.Server
	done chan struct{}

	mu     sync.Mutex
	err    error
	peak   int64
	status *os.File // /proc/PID/status, kept open: peak memory is read after every invocation
	buf    []byte
	once   sync.Once
}

func (p *proc) Done() <-chan struct{} { return p.done }

func (p *proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *proc) Kill() error {
	p.once.Do(func() {
		p.sample()
		// The whole process group: the runtime and whatever it started.
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		awaitGroupGone(pgid, 5*time.Second)
		p.srv.Close()
		p.mu.Lock()
		if p.status != nil {
			p.status.Close()
		}
		p.mu.Unlock()
	})
	return nil
}

// MaxMemoryBytes reads the entrypoint's peak resident set (VmHWM); children are not counted.
func (p *proc) MaxMemoryBytes() int64 {
	p.sample()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

func (p *proc) sample() {
	select {
	case <-p.done:
		return
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == nil {
		f, err := os.Open("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
		if err != nil {
			return
		}
		p.status, p.buf = f, make([]byte, 4096)
	}
	n, _ := p.status.ReadAt(p.buf, 0)
	if hwm, ok := parseHWM(p.buf[:n]); ok {
		p.peak = max(p.peak, hwm)
	}
}

// parseHWM finds "VmHWM:   1234 kB" in a /proc/PID/status text.
func parseHWM(status []byte) (int64, bool) {
	_, rest, ok := bytes.Cut(status, []byte("VmHWM:"))
	if !ok {
		return 0, false
	}
	rest = bytes.TrimLeft(rest, " \t")
	end := bytes.IndexAny(rest, " \n")
	if end < 0 {
		return 0, false
	}
	kb, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return kb << 10, err == nil
}

var _ sandbox.Driver = (*Driver)(nil)
