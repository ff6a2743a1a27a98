package integration

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/sys/unix"

	"github.com/lambent/lambent/internal/lambenttest"
	"github.com/lambent/lambent/internal/server"
)

// awaitExit waits until process pid has exited, for at most d; it reports whether it has.
func awaitExit(t *testing.T, pid int, d time.Duration) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return true
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(time.Until(deadline).Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n == 1
	}
	return false
}

func TestInvokeIdleEnvironmentsAreReaped(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t, func(c *server.Config) { c.IdleTimeout = 300 * time.Millisecond })
	c := s.Client()
	s.CreateFunction(t, "reaped", lambenttest.Function(t, "probe"))

	out := fnInvoke(t, c, "reaped", `{"cmd":"env"}`, withTail)
	first := fnPid(t, fnJSON(t, out.Payload))
	if !parseReport(t, logTail(t, out)).hasInit {
		t.Error("first invocation has no Init Duration")
	}
	// The environment's process ends when the reaper finds it idle.
	if !awaitExit(t, first, 10*time.Second) {
		t.Fatalf("environment (pid %d) still running 10 s after a 300 ms idle timeout", first)
	}
	out = fnInvoke(t, c, "reaped", `{"cmd":"env"}`, withTail)
	if pid := fnPid(t, fnJSON(t, out.Payload)); pid == first {
		t.Errorf("invocation after reaping ran in the reaped pid %d", pid)
	}
	if !parseReport(t, logTail(t, out)).hasInit {
		t.Error("invocation after reaping is not a cold start: no Init Duration")
	}
}

// The server's own environment (its credentials above all) never reaches a function.
func TestInvokeServerEnvironmentStaysOut(t *testing.T) {
	t.Setenv("LAMBENT_ACCESS_KEY_ID", lambenttest.AccessKeyID)
	t.Setenv("LAMBENT_SECRET_ACCESS_KEY", lambenttest.SecretAccessKey)
	t.Setenv("LAMBENT_TEST_ONLY_MARKER", "server-side")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "host-secret-that-must-not-leak")
	s := lambenttest.Start(t, func(c *server.Config) { c.Getenv = os.Getenv })
	s.CreateFunction(t, "sealed", lambenttest.Function(t, "probe"))
	env := fnOK(t, s.Client(), "sealed", `{"cmd":"env"}`)["env"].(map[string]any)
	for k, v := range env {
		v := v.(string)
		if strings.HasPrefix(k, "LAMBENT") || strings.Contains(v, lambenttest.SecretAccessKey) ||
			strings.Contains(v, "server-side") || strings.Contains(v, "host-secret") {
			t.Errorf("the function sees the server's %s=%s", k, v)
		}
	}
}

// A failed Event invocation runs again after each of the retry delays (AWS: two retries), with
// its request id.
func TestInvokeEventRetries(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t, func(c *server.Config) {
		c.AsyncRetryDelays = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
	})
	s.CreateFunction(t, "retried", lambenttest.Function(t, "probe"))
	out := fnInvoke(t, s.Client(), "retried", `{"cmd":"error"}`,
		func(in *lambda.InvokeInput) { in.InvocationType = types.InvocationTypeEvent })
	if out.StatusCode != 202 {
		t.Fatalf("Event invoke: status %d", out.StatusCode)
	}
	id := requestID(t, out)
	// The attempts show in the stored logs; look until all three are there.
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs, err := s.Store.Logs.Read(context.Background(), "retried")
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, r := range recs {
			all.Write(r.Text)
		}
		n := strings.Count(all.String(), "REPORT RequestId: "+id+"\t")
		if n >= 3 {
			if n > 3 || strings.Count(all.String(), "probe failed on purpose") < 3 {
				t.Errorf("%d attempts of a failing Event invocation, want 3:\n%s", n, all.String())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts of a failing Event invocation after 20 s, want 3:\n%s", n, all.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestThrottle fills the account's concurrency and checks that one more invoke gets
// TooManyRequestsException (429) while the other runs, and that capacity comes back.
func TestThrottle(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t, func(c *server.Config) { c.MaxConcurrency = 1 })
	c := s.Client()
	zip := lambenttest.Function(t, "probe")
	s.CreateFunction(t, "busy", zip)
	s.CreateFunction(t, "other", zip)
	var tooMany *types.TooManyRequestsException
	done := make(chan error, 1)
	go func() {
		for { // the sleeper may itself be throttled by the probing invokes below: it retries
			_, err := c.Invoke(context.Background(), &lambda.InvokeInput{
				FunctionName: aws.String("busy"), Payload: []byte(`{"cmd":"sleep","ms":2000}`)})
			if !errors.As(err, &tooMany) {
				done <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("other"), Payload: []byte(`{}`)})
		var throttled *types.TooManyRequestsException
		if errors.As(err, &throttled) {
			if throttled.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
				t.Errorf("Reason %q", throttled.Reason)
			}
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("invoke while another runs at concurrency 1: %v, want TooManyRequestsException", err)
		}
		time.Sleep(10 * time.Millisecond) // until the sleeper holds the slot; no event to wait on
	}
	if err := <-done; err != nil {
		t.Errorf("the invoke holding the slot failed: %v", err)
	}
	fnOK(t, c, "other", `{"cmd":"echo"}`)
}
