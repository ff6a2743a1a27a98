package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/sandbox/linux"
	"github.com/lambent/lambent/internal/server"
)

// startLinux starts a server with the linux sandbox driver, or skips where it cannot run.
func startLinux(t *testing.T) *lambenttest.Server {
	t.Helper()
	if _, err := linux.New(linux.Options{StateDir: t.TempDir(), Spares: -1}); err != nil {
		t.Skipf("the linux sandbox driver cannot run here: %v", err)
	}
	return lambenttest.Start(t, func(c *server.Config) { c.Sandbox = "linux" })
}

// TestLinuxSandbox runs real aws-lambda-go functions in isolated environments through the API.
func TestLinuxSandbox(t *testing.T) {
	s := startLinux(t)
	c := s.Client()
	zip := lambenttest.Function(t, "probe")
	s.CreateFunction(t, "iso", zip, func(in *lambda.CreateFunctionInput) {
		in.MemorySize = aws.Int32(128)
		in.Timeout = aws.Int32(5)
		in.Environment = &types.Environment{Variables: map[string]string{"MINE": "yes"}}
	})

	t.Run("environment", func(t *testing.T) {
		got := fnOK(t, c, "iso", `{"cmd":"env"}`)
		env, _ := got["env"].(map[string]any)
		for k, want := range map[string]string{
			"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_RUNTIME_API": linux.RuntimeAPIAddr, "MINE": "yes",
			"AWS_LAMBDA_FUNCTION_NAME": "iso", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		} {
			if env[k] != want {
				t.Errorf("%s = %v, want %q", k, env[k], want)
			}
		}
		if got["cwd"] != "/var/task" || got["pid"] != float64(1) {
			t.Errorf("cwd %v pid %v; want /var/task and 1 (the runtime is PID 1 of its namespace)", got["cwd"], got["pid"])
		}
		for k, v := range env {
			if strings.HasPrefix(k, "LAMBENT_") || strings.Contains(v.(string), s.DataDir) {
				t.Errorf("the server's %s=%v leaks into the function", k, v)
			}
		}
	})
	t.Run("cannot reach the server's API", func(t *testing.T) {
		got := fnOK(t, c, "iso", `{"cmd":"dial","text":"`+strings.TrimPrefix(s.Endpoint, "http://")+`"}`)
		if got["dialed"] != false {
			t.Errorf("the function reached the server's API at %s: %v", s.Endpoint, got)
		}
	})
	t.Run("cannot see the data dir or write its code", func(t *testing.T) {
		for _, path := range []string{filepath.Join(s.DataDir, "x"), "/var/task/x"} {
			out := fnInvoke(t, c, "iso", `{"cmd":"write","path":"`+path+`","text":"x"}`)
			if out.FunctionError == nil {
				t.Errorf("wrote %s", path)
			}
		}
		if _, err := os.Stat(filepath.Join(s.DataDir, "x")); err == nil {
			t.Error("the function wrote into the data dir")
		}
	})
	t.Run("tmp is bounded by ephemeral storage and the environment survives", func(t *testing.T) {
		// /tmp is a tmpfs, charged to the function's memory: give it room for 512 MB of files.
		s.CreateFunction(t, "iso-big", zip, func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(1024) })
		got := fnOK(t, c, "iso-big", `{"cmd":"fill","path":"/tmp/big","n":600}`)
		if w, _ := got["written"].(float64); w >= 600 || w < 400 || !strings.Contains(got["error"].(string), "no space left") {
			t.Errorf("fill /tmp: %v; want ENOSPC after ~512 MiB", got)
		}
		fnOK(t, c, "iso-big", `{"cmd":"echo"}`)
	})
	t.Run("memory limit", func(t *testing.T) {
		out := fnInvoke(t, c, "iso", `{"cmd":"alloc","n":400}`, withTail)
		var e struct{ ErrorType, ErrorMessage string }
		json.Unmarshal(out.Payload, &e)
		if aws.ToString(out.FunctionError) != "Unhandled" || e.ErrorType != "Runtime.OutOfMemory" {
			t.Fatalf("function error %q payload %s; want Runtime.OutOfMemory", aws.ToString(out.FunctionError), out.Payload)
		}
		if r := parseReport(t, logTail(t, out)); r.maxMemoryUsed < 100 || r.maxMemoryUsed > 129 {
			t.Errorf("Max Memory Used %d MB after an OOM kill at 128 MB", r.maxMemoryUsed)
		}
		fnOK(t, c, "iso", `{"cmd":"echo"}`) // a fresh environment
	})
}

// TestLinuxSandboxCleanup checks that environments leave nothing behind once they end: no
// sandbox root, no process, no cgroup.
func TestLinuxSandboxCleanup(t *testing.T) {
	s := startLinux(t)
	c := s.Client()
	s.CreateFunction(t, "gone", lambenttest.Function(t, "probe"), func(in *lambda.CreateFunctionInput) {
		in.Timeout = aws.Int32(1)
	})
	fnOK(t, c, "gone", `{"cmd":"echo"}`)
	fnInvoke(t, c, "gone", `{"cmd":"spawn","ms":5000}`) // times out, with a child left running
	fnInvoke(t, c, "gone", `{"cmd":"exit"}`)            // crashes
	fnOK(t, c, "gone", `{"cmd":"echo"}`)
	if before := sandboxProcs(t); len(before) == 0 {
		t.Fatal("no sandbox processes while an environment is warm: the count cannot see them")
	}
	if err := s.System.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.DataDir, "sandboxes")); len(entries) != 0 {
		t.Errorf("%d sandbox roots left after Close", len(entries))
	}
	if left := sandboxProcs(t); len(left) != 0 {
		t.Errorf("sandbox processes left after Close: %v", left)
	}
	if groups := cgroupsUnder(t, filepath.Join("lambent", linux.Instance(filepath.Join(s.DataDir, "sandboxes")))); len(groups) != 0 {
		t.Errorf("cgroups left after Close: %v", groups)
	}
}

// sandboxProcs lists this process's children that are sandbox inits or function runtimes.
func sandboxProcs(t *testing.T) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if c := string(cmd); strings.Contains(c, linux.InitArg) || strings.HasPrefix(c, "/var/task/") {
			out = append(out, e.Name()+":"+strings.ReplaceAll(c, "\x00", " "))
		}
	}
	return out
}

// cgroupsUnder lists the groups below name in this process's memory cgroup.
func cgroupsUnder(t *testing.T, name string) []string {
	t.Helper()
	self, _ := os.ReadFile("/proc/self/cgroup")
	var base string
	for _, line := range strings.Split(string(self), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && (parts[1] == "memory" || (parts[0] == "0" && base == "")) {
			if parts[1] == "memory" {
				base = filepath.Join("/sys/fs/cgroup/memory", parts[2], name)
			} else {
				base = filepath.Join("/sys/fs/cgroup", parts[2], name)
			}
		}
	}
	var leaves []string
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != base {
			leaves = append(leaves, p)
		}
		return nil
	})
	return leaves
}

// TestLinuxSandboxKilledServer kills a real `lambent server` with warm environments, checks
// that its sandboxes die with it (PR_SET_PDEATHSIG), and that a restart sweeps what they left:
// afterwards only the new server's spares exist, as sandbox roots and as cgroups.
func TestLinuxSandboxKilledServer(t *testing.T) {
	startLinux(t) // skips where the driver cannot run
	bin := buildLambentBinary(t)
	dataDir := t.TempDir()
	srv := startLambentProcess(t, bin, dataDir, "--sandbox", "linux")
	c := srv.client()
	restartCreate(t, c, "warm", lambenttest.Function(t, "probe"))
	fnOK(t, c, "warm", `{"cmd":"spawn","ms":10}`) // a warm environment with a child process
	sandboxDir := filepath.Join(dataDir, "sandboxes")
	groups := filepath.Join("lambent", linux.Instance(sandboxDir))
	pid := srv.cmd.Process.Pid
	if n := len(descendants(pid)); n < 3 {
		t.Fatalf("%d processes under the server; want its sandboxes' (spares, runtime, child)", n)
	}
	srv.kill(t)
	// Every process of the old sandboxes is gone: they were the server's descendants, now
	// reparented; find them by their sandbox-init or /var/task command lines.
	deadline := time.Now().Add(10 * time.Second)
	for len(orphanSandboxProcs(bin)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the kernel reaps them asynchronously; no event to wait on
	}
	if left := orphanSandboxProcs(bin); len(left) > 0 {
		t.Fatalf("sandbox processes outlived the killed server: %v", left)
	}

	srv = startLambentProcess(t, bin, dataDir, "--sandbox", "linux")
	fnOK(t, srv.client(), "warm", `{"cmd":"echo"}`)
	roots, _ := os.ReadDir(sandboxDir)
	leaves := cgroupsUnder(t, groups)
	// The restarted server holds one environment and up to two spares (a third may be starting).
	if len(roots) > 4 || len(leaves) > 4 {
		t.Errorf("after restart: %d sandbox roots, %d cgroups; want at most the live environment and spares", len(roots), len(leaves))
	}
	srv.stop(t)
	roots, _ = os.ReadDir(sandboxDir)
	if leaves := cgroupsUnder(t, groups); len(roots) != 0 || len(leaves) != 0 {
		t.Errorf("after a clean stop: sandbox roots %d, cgroups %v", len(roots), leaves)
	}
}

// descendants lists the pids whose parent chain reaches pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 {
			parent[p], _ = strconv.Atoi(fields[1])
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// orphanSandboxProcs lists live processes running bin as a sandbox init, or a function runtime.
func orphanSandboxProcs(bin string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmd) == 0 {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") {
			continue // a zombie is gone, waiting for its parent to read its status
		}
		c := string(cmd)
		if strings.HasPrefix(c, bin+"\x00"+linux.InitArg) || strings.HasPrefix(c, "/var/task/bootstrap") {
			out = append(out, e.Name()+":"+strings.ReplaceAll(c, "\x00", " "))
		}
	}
	return out
}
