// Command probe is a Lambda function built with aws-lambda-go for Lambent's tests. Its event
// says what to do: {"cmd":"echo"} returns the event, "env" returns the environment and the
// context, "error" returns an error, "panic" panics, "exit" exits, "sleep" sleeps "ms"
// milliseconds, "print" prints "text" "n" times, "big" returns a string of "n" bytes, "write"
// writes "text" to the file "path", "spawn" starts a child process that stays, prints
// "probe pid=P child=C" and sleeps "ms" milliseconds, "alloc" allocates and touches "n" MiB
// and keeps it, "fill" writes "n" MiB to "path" and reports how far it got, "dial" opens a TCP
// connection to the address "text".
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Cmd  string `json:"cmd"`
	Ms   int    `json:"ms"`
	N    int    `json:"n"`
	Text string `json:"text"`
	Path string `json:"path"`
}

func handle(ctx context.Context, raw map[string]any) (any, error) {
	var ev event
	ev.Cmd, _ = raw["cmd"].(string)
	if f, ok := raw["ms"].(float64); ok {
		ev.Ms = int(f)
	}
	if f, ok := raw["n"].(float64); ok {
		ev.N = int(f)
	}
	ev.Text, _ = raw["text"].(string)
	ev.Path, _ = raw["path"].(string)
	switch ev.Cmd {
	case "", "echo":
		return raw, nil
	case "env":
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		wd, _ := os.Getwd()
		return map[string]any{
			"env": env, "requestId": lc.AwsRequestID, "functionArn": lc.InvokedFunctionArn,
			"clientContext": lc.ClientContext, "deadlineMs": deadline.UnixMilli(), "pid": os.Getpid(),
			"cwd": wd,
		}, nil
	case "error":
		return nil, errors.New("probe failed on purpose")
	case "panic":
		panic("probe panicked on purpose")
	case "exit":
		fmt.Println("probe exiting")
		os.Exit(3)
	case "sleep":
		fmt.Println("probe sleeping")
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
		return map[string]any{"slept": ev.Ms, "pid": os.Getpid()}, nil
	case "alloc":
		for range ev.N {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			kept = append(kept, b)
		}
		return map[string]any{"allocated": ev.N}, nil
	case "fill":
		f, err := os.Create(ev.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		chunk := make([]byte, 1<<20)
		written := 0
		for written < ev.N {
			if _, err := f.Write(chunk); err != nil {
				return map[string]any{"written": written, "error": err.Error()}, nil
			}
			written++
		}
		return map[string]any{"written": written}, nil
	case "dial":
		c, err := net.DialTimeout("tcp", ev.Text, time.Second)
		if err != nil {
			return map[string]any{"dialed": false, "error": err.Error()}, nil
		}
		c.Close()
		return map[string]any{"dialed": true}, nil
	case "print":
		for range max(ev.N, 1) {
			fmt.Println(ev.Text)
		}
		return map[string]any{"printed": ev.N}, nil
	case "big":
		return strings.Repeat("x", ev.N), nil
	case "write":
		return map[string]any{"wrote": ev.Path}, os.WriteFile(ev.Path, []byte(ev.Text), 0o644)
	case "spawn":
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		child := exec.Command(self)
		child.Env = append(os.Environ(), "PROBE_CHILD=1")
		if err := child.Start(); err != nil {
			return nil, err
		}
		fmt.Printf("probe pid=%d child=%d\n", os.Getpid(), child.Process.Pid)
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
		return map[string]any{"pid": os.Getpid(), "child": child.Process.Pid}, nil
	}
	return nil, fmt.Errorf("unknown cmd %q", ev.Cmd)
}

// kept holds what "alloc" allocated, so that it stays in use.
var kept [][]byte

func main() {
	if os.Getenv("PROBE_CHILD") == "1" { // a process the function started, that stays
		for {
			time.Sleep(time.Hour)
		}
	}
	fmt.Println("probe init")
	lambda.Start(handle)
}
