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
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

var seq atomic.Int64

// run starts script as a function's bootstrap with memoryMB and tmpMB and returns its output and
// how it ended, killing it after timeout.
func run(t *testing.T, d *Driver, script string, memoryMB, tmpMB int, timeout time.Duration) (string, error) {
	t.Helper()
	code := scriptCode(t, script)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sb, err := d.Start(context.Background(), sandbox.Spec{
		ID: fmt.Sprintf("iso%d", seq.Add(1)), CodeDir: code, Entrypoint: "bootstrap",
		Env: []string{"PATH=/usr/bin:/bin", "SECRET_OF_FUNCTION=mine"}, MemoryMB: memoryMB,
		EphemeralStorageMB: tmpMB, RuntimeAPI: http.NotFoundHandler(), Output: w,
	})
	w.Close()
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer sb.Kill()
	outc := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(io.LimitReader(r, 1<<20)); outc <- b }()
	select {
	case <-sb.Done():
	case <-time.After(timeout):
		sb.Kill()
		return string(<-outc), errors.New("timed out")
	}
	sb.Kill() // ends whatever the entrypoint left running, closing the pipe
	return string(<-outc), sb.Err()
}

func TestIsolation(t *testing.T) {
	d := newDriver(t)
	dataDir := t.TempDir() // stands for the server's data directory
	os.WriteFile(filepath.Join(dataDir, "credentials.json"), []byte(`{"SecretAccessKey":"server-secret"}`), 0o600)
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HOST-SERVER\n"))
			c.Close()
		}
	}()
	hostPort := hostLn.Addr().(*net.TCPAddr).Port
	hostname, _ := os.Hostname()

	tests := []struct {
		name, script string
		want         []string // each must appear in the output
		deny         []string // none may appear
	}{
		{"runs as unprivileged user", "id -u; id -g\n", []string{"993\n990\n"}, nil},
		{"cannot read shadow", "cat /etc/shadow && echo READ-SHADOW\n", nil, []string{"READ-SHADOW", "root:"}},
		{"cannot see the data dir", "cat " + dataDir + "/credentials.json 2>/dev/null; ls " + filepath.Dir(dataDir) + " 2>/dev/null; echo end\n", []string{"end"}, []string{"server-secret", filepath.Base(dataDir)}},
		{"cannot see /root or /home", "ls /root /home 2>&1\n", []string{"No such file"}, nil},
		{"sees only its own processes", "ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '\n", []string{"1 "}, []string{" 20 ", " 100 "}},
		{"pid 1 is the function", "cat /proc/1/cmdline | tr '\\0' ' '; echo; tr '\\0' '\\n' < /proc/1/environ | grep -c SECRET_OF_FUNCTION\n", []string{"/bin/sh /var/task/bootstrap", "\n1\n"}, []string{"LAMBENT"}},
		{"own hostname", "cat /proc/sys/kernel/hostname\n", []string{"sandbox"}, []string{hostname + "\n"}},
		{"cannot reach the host's loopback", fmt.Sprintf("timeout 2 python3 -c \"import socket; s=socket.create_connection(('127.0.0.1', %d), 1); print(s.recv(20))\" 2>&1 | tail -1\n", hostPort), []string{"Connection refused"}, []string{"HOST-SERVER"}},
		{"code is read-only", "echo x > /var/task/new 2>&1; touch /var/task/bootstrap 2>&1; echo done\n", []string{"Read-only file system"}, nil},
		{"root and usr are read-only", "touch /usr/x /etc/x /x 2>&1 | grep -c Read-only\n", []string{"3\n"}, nil},
		{"no capabilities", "grep -E 'CapEff|CapBnd|NoNewPrivs|Seccomp:' /proc/self/status\n", []string{"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"}, nil},
		{"seccomp denies mount and unshare", "python3 -c \"import ctypes,os; l=ctypes.CDLL(None,use_errno=True); print('unshare', l.unshare(0x20000), ctypes.get_errno())\"\n", []string{"unshare -1 1\n"}, nil},
		{"tmp is writable", "echo hi > /tmp/f && cat /tmp/f\n", []string{"hi\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, d, tt.script, 128, 512, 20*time.Second)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s (exit: %v)", w, out, err)
				}
			}
			for _, n := range tt.deny {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestLimits(t *testing.T) {
	d := newDriver(t)
	t.Run("memory limit kills with ErrOutOfMemory", func(t *testing.T) {
		out, err := run(t, d, "python3 -c \"x=bytearray(400<<20); print('ALLOCATED')\"\n", 128, 512, 30*time.Second)
		if !errors.Is(err, sandbox.ErrOutOfMemory) || strings.Contains(out, "ALLOCATED") {
			t.Errorf("err = %v, output %q; want ErrOutOfMemory", err, out)
		}
	})
	t.Run("tmp is limited to ephemeral storage", func(t *testing.T) {
		out, _ := run(t, d, "dd if=/dev/zero of=/tmp/big bs=1M count=600 2>&1 | grep -o 'No space left on device'; echo still-running\n", 1024, 512, 30*time.Second)
		if !strings.Contains(out, "No space left on device") || !strings.Contains(out, "still-running") {
			t.Errorf("output %q", out)
		}
	})
	t.Run("fork bomb is contained", func(t *testing.T) {
		code := scriptCode(t, "b() { b | b & }; b\nsleep 600\n")
		sb, err := d.Start(context.Background(), sandbox.Spec{ID: "bomb", CodeDir: code, Entrypoint: "bootstrap",
			Env: []string{"PATH=/usr/bin:/bin"}, MemoryMB: 1769, EphemeralStorageMB: 512,
			RuntimeAPI: http.NotFoundHandler(), Output: devNull(t)})
		if err != nil {
			t.Fatal(err)
		}
		cg := sb.(*box).cg
		var peak int64
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
			peak = max(peak, cg.tasks())
			time.Sleep(50 * time.Millisecond) // sampling a process count: there is no event to wait on
		}
		if err := exec.Command("true").Run(); err != nil {
			t.Errorf("host cannot fork during the bomb: %v", err)
		}
		start := time.Now()
		sb.Kill()
		t.Logf("bomb peaked at %d processes; kill took %v", peak, time.Since(start))
		if peak > maxPids || peak < maxPids/2 {
			t.Errorf("bomb peaked at %d tasks; want it held at the limit of %d", peak, maxPids)
		}
		// The group can only have been removed once every task in it was gone.
		dir := ""
		switch g := cg.(type) {
		case *v1Group:
			dir = g.pidsDir
		case *v2Group:
			dir = g.dir
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still there after Kill (%d tasks): %v", dir, cg.tasks(), err)
		}
	})
	t.Run("kill ends a spinning function", func(t *testing.T) {
		_, err := run(t, d, "while :; do :; done\n", 128, 512, 500*time.Millisecond)
		if err == nil || err.Error() != "timed out" {
			t.Errorf("err = %v", err)
		}
	})
}

func devNull(t testing.TB) *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
