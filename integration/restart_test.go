package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/state"
)

// TestRestartAfterKill runs `lambent server` as a child process, gives it functions and
// asynchronous invocations that are still running, kills it with SIGKILL and starts it again on
// the same data directory. Every function must come back unchanged, with the same key, and
// every accepted invocation must run to completion after the restart.
func TestRestartAfterKill(t *testing.T) {
	bin := buildLambentBinary(t)
	dataDir, witnessDir := t.TempDir(), t.TempDir()
	// The process driver: witness writes to a host directory.
	args := []string{"--async-ack-wait", "1s", "--sandbox", "process"}

	first := startLambentProcess(t, bin, dataDir, args...)
	credsFile := filepath.Join(dataDir, "credentials.json")
	if fi, err := os.Stat(credsFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v; want mode 0600", fi, err)
	}
	credsBefore, err := os.ReadFile(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	c := first.client()

	witness, probe := lambenttest.Function(t, "witness"), lambenttest.Function(t, "probe")
	restartCreate(t, c, "sleeper", witness, func(in *lambda.CreateFunctionInput) {
		in.Timeout = aws.Int32(30)
		in.Environment = &types.Environment{Variables: map[string]string{"WITNESS_DIR": witnessDir}}
	})
	restartCreate(t, c, "echo", probe, func(in *lambda.CreateFunctionInput) {
		in.MemorySize = aws.Int32(512)
		in.Description = aws.String("echoes its event")
		in.Environment = &types.Environment{Variables: map[string]string{"GREETING": "hello"}}
	})
	restartCreate(t, c, "changed", probe)
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("changed"), Timeout: aws.Int32(9), Description: aws.String("updated"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
		FunctionName: aws.String("changed"), ZipFile: witness,
	}); err != nil {
		t.Fatal(err)
	}
	names := []string{"changed", "echo", "sleeper"}
	before := map[string]*types.FunctionConfiguration{}
	for _, name := range names {
		before[name] = restartWaitUpdated(t, c, name)
	}

	// Invocations that sleep long enough to be running when the server dies.
	const invocations = 4
	var ids []string
	for range invocations {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{
			FunctionName: aws.String("sleeper"), InvocationType: types.InvocationTypeEvent,
			Payload: []byte(`{"ms":3000}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
		if out.StatusCode != 202 || id == "" {
			t.Fatalf("async Invoke: status %d, request id %q", out.StatusCode, id)
		}
		ids = append(ids, id)
	}
	restartWaitFiles(t, witnessDir, ids, ".start", 30*time.Second)
	first.kill(t)
	killedAt := time.Now()
	unfinished := 0
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(witnessDir, id+".done")); err != nil {
			unfinished++
		}
	}
	if unfinished == 0 {
		t.Fatal("every invocation finished before the kill: nothing was in flight")
	}

	second := startLambentProcess(t, bin, dataDir, args...)
	if second.accessKeyID != first.accessKeyID || second.secretAccessKey != first.secretAccessKey {
		t.Errorf("credentials changed across restart: %s then %s", first.accessKeyID, second.accessKeyID)
	}
	if credsAfter, err := os.ReadFile(credsFile); err != nil || string(credsAfter) != string(credsBefore) {
		t.Errorf("credentials file changed across restart (%v)", err)
	}
	c = second.client()
	list, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, f := range list.Functions {
		listed = append(listed, aws.ToString(f.FunctionName))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, names) {
		t.Errorf("ListFunctions after restart = %v, want %v", listed, names)
	}
	for _, name := range names {
		got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Errorf("GetFunction %s after restart: %v", name, err)
			continue
		}
		if diff := restartConfigDiff(before[name], got.Configuration); diff != "" {
			t.Errorf("%s changed across restart:\n%s", name, diff)
		}
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"after":"restart"}`)})
	if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), `"after":"restart"`) {
		t.Errorf("Invoke echo after restart: %v, %s", err, out.Payload)
	}

	// Every accepted invocation runs to completion after the restart: the function says so,
	// and so do the REPORT lines the new server stored.
	restartWaitFiles(t, witnessDir, ids, ".done", 60*time.Second)
	second.stop(t)
	st, err := state.Open(ctx, state.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Logs.Read(ctx, "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		found := false
		for _, r := range recs {
			if r.Time.After(killedAt) && strings.Contains(string(r.Text), "REPORT RequestId: "+id+"\t") {
				found = true
			}
		}
		if !found {
			t.Errorf("no REPORT for %s stored after the restart", id)
		}
	}
}

// restartConfigDiff lists the fields of a configuration that must survive a restart and differ.
func restartConfigDiff(a, b *types.FunctionConfiguration) string {
	type kept struct {
		Name, ARN, Runtime, Handler, Role, Description, CodeSha256, RevisionID, State, LastModified string
		CodeSize                                                                                    int64
		Memory, Timeout                                                                             int32
		Env                                                                                         map[string]string
	}
	view := func(c *types.FunctionConfiguration) kept {
		k := kept{
			Name: aws.ToString(c.FunctionName), ARN: aws.ToString(c.FunctionArn), Runtime: string(c.Runtime),
			Handler: aws.ToString(c.Handler), Role: aws.ToString(c.Role), Description: aws.ToString(c.Description),
			CodeSha256: aws.ToString(c.CodeSha256), RevisionID: aws.ToString(c.RevisionId), State: string(c.State),
			LastModified: aws.ToString(c.LastModified), CodeSize: c.CodeSize,
			Memory: aws.ToInt32(c.MemorySize), Timeout: aws.ToInt32(c.Timeout),
		}
		if c.Environment != nil {
			k.Env = c.Environment.Variables
		}
		return k
	}
	va, vb := view(a), view(b)
	if reflect.DeepEqual(va, vb) {
		return ""
	}
	return fmt.Sprintf("before: %+v\nafter:  %+v", va, vb)
}

func restartCreate(t *testing.T, c *lambda.Client, name string, zip []byte, mutate ...func(*lambda.CreateFunctionInput)) {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String(lambenttest.Role), Code: &types.FunctionCode{ZipFile: zip},
	}
	for _, m := range mutate {
		m(in)
	}
	if _, err := c.CreateFunction(t.Context(), in); err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
}

// restartWaitUpdated waits until name is Active with its last update Successful and returns its
// configuration.
func restartWaitUpdated(t *testing.T, c *lambda.Client, name string) *types.FunctionConfiguration {
	t.Helper()
	w := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	out, err := w.WaitForOutput(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second)
	if err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
	if out.Configuration.State != types.StateActive {
		t.Fatalf("%s is %s, want Active", name, out.Configuration.State)
	}
	return out.Configuration
}

// restartWaitFiles waits until dir holds ID+suffix for every id. The files are written by functions
// in other processes, which offer no event to wait on but the files themselves.
func restartWaitFiles(t *testing.T, dir string, ids []string, suffix string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, id := range ids {
			if _, err := os.Stat(filepath.Join(dir, id+suffix)); err != nil {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v no %s file for %v", timeout, suffix, missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buildLambentBinary builds cmd/lambent into the test's temporary directory.
func buildLambentBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lambent")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/lambent/lambent/cmd/lambent").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lambentProcess is a `lambent server` process.
type lambentProcess struct {
	cmd                          *exec.Cmd
	endpoint                     string
	accessKeyID, secretAccessKey string
	exited                       chan struct{}
	waitErr                      error
}

// startLambentProcess runs `bin server` on a loopback port with dataDir and waits for its banner, which
// gives the endpoint and the credentials. The server generates its own key: the environment
// sets none.
func startLambentProcess(t *testing.T, bin, dataDir string, args ...string) *lambentProcess {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAMBENT_") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(bin, append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Env = env
	cmd.Stderr = t.Output()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &lambentProcess{cmd: cmd, exited: make(chan struct{})}
	banner := make(chan error, 1)
	go func() {
		defer io.Copy(io.Discard, stdout)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if rest, ok := strings.CutPrefix(line, "Lambent is serving the Lambda API at "); ok {
				c.endpoint, _, _ = strings.Cut(rest, " ")
			}
			if v, ok := strings.CutPrefix(line, "export AWS_ACCESS_KEY_ID="); ok {
				c.accessKeyID = v
			}
			if v, ok := strings.CutPrefix(line, "export AWS_SECRET_ACCESS_KEY="); ok {
				c.secretAccessKey = v
			}
			if strings.HasPrefix(line, "aws lambda list-functions") {
				banner <- nil
				return
			}
		}
		banner <- fmt.Errorf("server output ended before its banner: %v", sc.Err())
	}()
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
	})
	select {
	case err := <-banner:
		if err != nil {
			t.Fatal(err)
		}
	case <-c.exited:
		t.Fatalf("lambent server exited before serving: %v", c.waitErr)
	case <-time.After(60 * time.Second):
		t.Fatal("lambent server printed no banner within 60s")
	}
	if !strings.HasPrefix(c.endpoint, "http://127.0.0.1:") || c.accessKeyID == "" || c.secretAccessKey == "" {
		t.Fatalf("banner gave endpoint %q, key %q", c.endpoint, c.accessKeyID)
	}
	return c
}

func (c *lambentProcess) client() *lambda.Client {
	return lambenttest.NewClient(c.endpoint, c.accessKeyID, c.secretAccessKey)
}

// kill ends the server with SIGKILL, as a crash would.
func (c *lambentProcess) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}

// stop asks the server to shut down and checks that it does so cleanly.
func (c *lambentProcess) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("lambent server did not stop within 30s of SIGTERM")
	}
	if c.waitErr != nil {
		t.Errorf("lambent server exited with %v after SIGTERM", c.waitErr)
	}
}
