package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binDir string // helper programs built by build

	buildMu sync.Mutex
	builds  = map[string]string{}

	summaryMu sync.Mutex
	summary   []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambent-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if len(summary) > 0 {
		fmt.Println("\nLambent benchmarks, each beside its floor measured in the same run:")
		for _, l := range summary {
			fmt.Println("  " + l)
		}
	}
	os.Exit(code)
}

// report prints a result line under the benchmark and in the summary at the end of the run.
func report(b *testing.B, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	b.Log(line)
	summaryMu.Lock()
	summary = append(summary, line)
	summaryMu.Unlock()
}

// build compiles a package of this module (path relative to the module root) once per test
// process and returns the binary.
func build(tb testing.TB, pkg string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builds[pkg]; ok {
		return bin
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "github.com/lambent/lambent/"+strings.TrimPrefix(pkg, "./"))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	builds[pkg] = bin
	return bin
}

// startChild runs bin as a child process that ends when its stdin closes (at the end of the
// benchmark) and returns the first line it prints and its pid.
func startChild(tb testing.TB, env []string, bin string, args ...string) (string, int) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("%s: reading its address: %v", filepath.Base(bin), err)
	}
	go io.Copy(io.Discard, stdout)
	return strings.TrimSpace(line), cmd.Process.Pid
}
