// Package sandboxtest is the conformance suite of the sandbox contract: every sandbox.Driver
// must pass Run. It drives real sandboxes with a small static Go program (./helper) as the
// entrypoint and checks only what the contract promises, so that it holds for drivers with
// their own namespaces (pids, mounts, network) as well as for plain processes.
package sandboxtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lambent/lambent/internal/sandbox"
)

// guard bounds every wait of the suite, so that a broken driver fails a test instead of
// hanging it.
const guard = 30 * time.Second

// Run runs the conformance suite against the driver newDriver returns. newDriver may call
// t.Skip when the driver cannot run on this machine.
func Run(t *testing.T, newDriver func(t *testing.T) sandbox.Driver) {
	bin := buildHelper(t)
	t.Run("Environment", func(t *testing.T) { t.Parallel(); testEnvironment(t, newDriver(t), bin) })
	t.Run("RuntimeAPIPerSandbox", func(t *testing.T) { t.Parallel(); testRuntimeAPIPerSandbox(t, newDriver(t), bin) })
	t.Run("Output", func(t *testing.T) { t.Parallel(); testOutput(t, newDriver(t), bin) })
	t.Run("Exit", func(t *testing.T) { t.Parallel(); testExit(t, newDriver(t), bin) })
	t.Run("KillTree", func(t *testing.T) { t.Parallel(); testKillTree(t, newDriver(t), bin) })
	t.Run("KillAfterExit", func(t *testing.T) { t.Parallel(); testKillAfterExit(t, newDriver(t), bin) })
	t.Run("MaxMemory", func(t *testing.T) { t.Parallel(); testMaxMemory(t, newDriver(t), bin) })
	t.Run("RuntimeEntrypoint", func(t *testing.T) { t.Parallel(); testRuntimeEntrypoint(t, newDriver(t), bin) })
	t.Run("MissingEntrypoint", func(t *testing.T) { t.Parallel(); testMissingEntrypoint(t, newDriver(t), bin) })
}

// buildHelper builds ./helper as a static linux binary.
func buildHelper(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "helper")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out,
		"github.com/lambent/lambent/internal/sandbox/sandboxtest/helper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sandboxtest helper: %v\n%s", err, msg)
	}
	return out
}

// box is one sandbox running the helper, with the handler it reports to and its output.
type box struct {
	t      *testing.T
	sb     sandbox.Sandbox
	spec   sandbox.Spec
	nonce  string
	hello  chan report
	events chan event
	seen   map[string]report // events received while waiting for another
	gate   chan struct{}
	lines  chan string // the sandbox's output, line by line; closed at EOF
}

// report is what the helper tells the suite (helper.Report).
type report struct {
	Pid           int      `json:"pid"`
	Cwd           string   `json:"cwd"`
	Env           []string `json:"env"`
	Marker        string   `json:"marker"`
	Local         string   `json:"local"`
	RuntimeMarker string   `json:"runtimeMarker"`
	OptMarker     string   `json:"optMarker"`
}

type event struct {
	name string
	rep  report
}

// start runs the helper in mode with extra environment variables; the sandbox is killed when
// the test ends.
func start(t *testing.T, d sandbox.Driver, bin, mode string, env ...string) *box {
	t.Helper()
	b, err := tryStart(t, d, bin, "bootstrap", mode, env...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return b
}

func tryStart(t *testing.T, d sandbox.Driver, bin, entrypoint, mode string, env ...string) (*box, error) {
	t.Helper()
	var tok [8]byte
	rand.Read(tok[:])
	b := &box{
		t: t, nonce: hex.EncodeToString(tok[:]),
		hello: make(chan report, 1), events: make(chan event, 8), seen: map[string]report{}, gate: make(chan struct{}),
		lines: make(chan string, 64),
	}
	code := t.TempDir()
	if err := install(bin, filepath.Join(code, "bootstrap")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(code, "marker.txt"), []byte("marker "+b.nonce), 0o644); err != nil {
		t.Fatal(err)
	}
	// A runtime directory (holding the helper too, for entrypoints under sandbox.RuntimeDir)
	// and a layers directory, each with its own marker.
	rtDir, optDir := t.TempDir(), t.TempDir()
	for _, d := range []string{code, rtDir, optDir} {
		os.Chmod(d, 0o755) // readable by a sandbox's unprivileged user
	}
	if err := install(bin, filepath.Join(rtDir, "bootstrap")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rtDir, "marker.txt"), []byte("runtime "+b.nonce), 0o644)
	os.WriteFile(filepath.Join(optDir, "marker.txt"), []byte("opt "+b.nonce), 0o644)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		r.Close()
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hello", func(w http.ResponseWriter, r *http.Request) {
		var rep report
		json.NewDecoder(r.Body).Decode(&rep)
		b.hello <- rep
	})
	mux.HandleFunc("POST /event/{name}", func(w http.ResponseWriter, r *http.Request) {
		var rep report
		json.NewDecoder(r.Body).Decode(&rep)
		b.events <- event{r.PathValue("name"), rep}
	})
	mux.HandleFunc("GET /gate", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-b.gate:
		case <-r.Context().Done():
		}
	})
	b.spec = sandbox.Spec{
		ID:                 b.nonce,
		CodeDir:            code,
		RuntimeDir:         rtDir,
		OptDir:             optDir,
		Entrypoint:         entrypoint,
		Env:                append([]string{"SANDBOXTEST_MODE=" + mode, "SANDBOXTEST_NONCE=" + b.nonce}, env...),
		MemoryMB:           256,
		EphemeralStorageMB: 512,
		RuntimeAPI:         mux,
		Output:             w,
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	b.sb, err = d.Start(ctx, b.spec)
	if err != nil {
		w.Close()
		return nil, err
	}
	t.Cleanup(func() {
		b.sb.Kill()
		w.Close()
	})
	return b, nil
}

// install puts the helper at path by a hard link, or else a copy. A link opens no file for
// writing: a copy's write descriptor, inherited by a process another test forks at that
// moment, would make its exec fail with "text file busy".
func install(bin, path string) error {
	if os.Link(bin, path) == nil {
		return nil
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o755)
}

// awaitHello waits for the helper's first report.
func (b *box) awaitHello() report {
	b.t.Helper()
	select {
	case rep := <-b.hello:
		return rep
	case <-b.sb.Done():
		b.t.Fatalf("sandbox exited (%v) before reaching its Runtime API", b.sb.Err())
	case <-time.After(guard):
		b.t.Fatal("the helper never reached its Runtime API")
	}
	panic("unreachable")
}

// awaitEvent waits for the helper's report called name; reports may arrive in any order.
func (b *box) awaitEvent(name string) report {
	b.t.Helper()
	timeout := time.After(guard)
	for {
		if rep, ok := b.seen[name]; ok {
			delete(b.seen, name)
			return rep
		}
		select {
		case ev := <-b.events:
			b.seen[ev.name] = ev.rep
		case <-b.sb.Done():
			b.t.Fatalf("sandbox exited (%v) before reporting %s", b.sb.Err(), name)
		case <-timeout:
			b.t.Fatalf("the helper never reported %s", name)
		}
	}
}

// awaitDone waits for the sandbox to end.
func (b *box) awaitDone() {
	b.t.Helper()
	select {
	case <-b.sb.Done():
	case <-time.After(guard):
		b.t.Fatal("Done not closed")
	}
}

// processes returns the pids of the live (not zombie) processes that carry this box's nonce in
// their environment, as seen from the host: whatever pid namespace a driver uses, its
// processes are visible here.
func (b *box) processes() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	want := []byte("SANDBOXTEST_NONCE=" + b.nonce)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), string(want)) {
			continue
		}
		if !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

func testEnvironment(t *testing.T, d sandbox.Driver, bin string) {
	b := start(t, d, bin, "stay", "FOO=bar", "WITH_EQUALS=a=b", "EMPTY=")
	rep := b.awaitHello()
	env := map[string]string{}
	for _, kv := range rep.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	root := env["LAMBDA_TASK_ROOT"]
	if root != b.spec.CodeDir && root != sandbox.TaskRoot {
		t.Errorf("LAMBDA_TASK_ROOT = %q, want %q or %q", root, sandbox.TaskRoot, b.spec.CodeDir)
	}
	if rep.Cwd != root {
		t.Errorf("working directory %q, want LAMBDA_TASK_ROOT %q", rep.Cwd, root)
	}
	if want := "marker " + b.nonce; rep.Marker != want || rep.Local != want {
		t.Errorf("code read through LAMBDA_TASK_ROOT %q and the cwd %q, want %q", rep.Marker, rep.Local, want)
	}
	if env["AWS_LAMBDA_RUNTIME_API"] == "" {
		t.Error("AWS_LAMBDA_RUNTIME_API not set")
	}
	if want := "runtime " + b.nonce; rep.RuntimeMarker != want {
		t.Errorf("read %q through LAMBDA_RUNTIME_DIR %q, want %q", rep.RuntimeMarker, env["LAMBDA_RUNTIME_DIR"], want)
	}
	if want := "opt " + b.nonce; rep.OptMarker != want {
		t.Errorf("read %q through _LAMBENT_OPT_DIR %q, want %q", rep.OptMarker, env["_LAMBENT_OPT_DIR"], want)
	}
	// Exactly the Spec's environment plus what the driver adds: nothing of the host leaks in.
	want := append(slices.Clone(b.spec.Env), "LAMBDA_TASK_ROOT="+root, "AWS_LAMBDA_RUNTIME_API="+env["AWS_LAMBDA_RUNTIME_API"],
		"LAMBDA_RUNTIME_DIR="+env["LAMBDA_RUNTIME_DIR"], "_LAMBENT_OPT_DIR="+env["_LAMBENT_OPT_DIR"])
	got := slices.Clone(rep.Env)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("environment\n got %q\nwant %q", got, want)
	}
}

func testRuntimeAPIPerSandbox(t *testing.T, d sandbox.Driver, bin string) {
	a := start(t, d, bin, "stay")
	b := start(t, d, bin, "stay")
	// Each helper reports to the handler of its own Spec, and to no other.
	for _, x := range []*box{a, b} {
		rep := x.awaitHello()
		if want := "marker " + x.nonce; rep.Marker != want {
			t.Errorf("sandbox %s reached a handler with a report from %q", x.nonce, rep.Marker)
		}
	}
}

func testOutput(t *testing.T, d sandbox.Driver, bin string) {
	b := start(t, d, bin, "stay")
	want := map[string]bool{"sandboxtest stdout " + b.nonce: true, "sandboxtest stderr " + b.nonce: true}
	timeout := time.After(guard)
	for len(want) > 0 {
		select {
		case line, ok := <-b.lines:
			if !ok {
				t.Fatalf("Output closed; never saw %v", want)
			}
			delete(want, line)
		case <-timeout:
			t.Fatalf("never saw %v in Output", want)
		}
	}
}

func testExit(t *testing.T, d sandbox.Driver, bin string) {
	for _, code := range []int{0, 7} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			b := start(t, d, bin, "exit", "SANDBOXTEST_EXIT="+strconv.Itoa(code))
			b.awaitHello()
			b.awaitDone()
			if m := b.sb.MaxMemoryBytes(); m <= 0 {
				t.Errorf("MaxMemoryBytes() = %d after the sandbox exited, want its peak", m)
			}
			err := b.sb.Err()
			if code == 0 {
				if err != nil {
					t.Errorf("Err() = %v after exit 0, want nil", err)
				}
				return
			}
			var exit interface{ ExitCode() int }
			if !errors.As(err, &exit) || exit.ExitCode() != code {
				t.Errorf("Err() = %v, want an error with ExitCode() %d", err, code)
			}
			// The text Lambda shows in Runtime.ExitError: "Runtime exited with error: exit status 7".
			if err == nil || !strings.Contains(err.Error(), "exit status "+strconv.Itoa(code)) {
				t.Errorf("Err() = %v, want it to say \"exit status %d\"", err, code)
			}
		})
	}
}

func testKillTree(t *testing.T, d sandbox.Driver, bin string) {
	b := start(t, d, bin, "child")
	b.awaitHello()
	b.awaitEvent("spawned")
	b.awaitEvent("child")
	before := b.processes()
	if len(before) < 2 {
		t.Fatalf("found processes %v of the sandbox, want the entrypoint and its child", before)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := b.sb.Kill(); err != nil {
				t.Errorf("Kill: %v", err)
			}
		})
	}
	wg.Wait()
	select {
	case <-b.sb.Done():
	default:
		t.Error("Done not closed when Kill returned")
	}
	if after := b.processes(); len(after) > 0 {
		t.Errorf("processes %v of %v still running after Kill returned", after, before)
	}
	if err := b.sb.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
}

func testKillAfterExit(t *testing.T, d sandbox.Driver, bin string) {
	b := start(t, d, bin, "exit", "SANDBOXTEST_EXIT=3")
	b.awaitDone()
	for i := range 2 {
		if err := b.sb.Kill(); err != nil {
			t.Errorf("Kill %d after exit: %v", i, err)
		}
	}
	var exit interface{ ExitCode() int }
	if err := b.sb.Err(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Err() after Kill of an exited sandbox = %v, want exit status 3", err)
	}
}

func testMaxMemory(t *testing.T, d sandbox.Driver, bin string) {
	b := start(t, d, bin, "alloc")
	b.awaitHello()
	before := b.sb.MaxMemoryBytes()
	close(b.gate)
	b.awaitEvent("allocated")
	after := b.sb.MaxMemoryBytes()
	if before <= 0 || after < before+48<<20 {
		t.Errorf("MaxMemoryBytes %d before and %d after allocating 64 MiB, want growth of at least 48 MiB", before, after)
	}
	b.sb.Kill()
	if final := b.sb.MaxMemoryBytes(); final < after {
		t.Errorf("MaxMemoryBytes %d after Kill, below the %d seen before", final, after)
	}
}

func testMissingEntrypoint(t *testing.T, d sandbox.Driver, bin string) {
	_, err := tryStart(t, d, bin, "no-such-bootstrap", "stay")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Start with a missing entrypoint: %v, want an error matching fs.ErrNotExist", err)
	}
}

// testRuntimeEntrypoint runs an entrypoint given as a path under sandbox.RuntimeDir, as the
// managed runtimes do.
func testRuntimeEntrypoint(t *testing.T, d sandbox.Driver, bin string) {
	b, err := tryStart(t, d, bin, sandbox.RuntimeDir+"/bootstrap", "stay")
	if err != nil {
		t.Fatalf("Start with entrypoint %s/bootstrap: %v", sandbox.RuntimeDir, err)
	}
	if rep := b.awaitHello(); rep.RuntimeMarker != "runtime "+b.nonce {
		t.Errorf("runtime marker %q", rep.RuntimeMarker)
	}
}
