// Command probe is a Lambda function built with aws-lambda-go for Lambent's tests. Its event
// says what to do: {"cmd":"echo"} returns the event, "env" returns the environment and the
// context, "error" returns an error, "panic" panics, "exit" exits, "sleep" sleeps "ms"
// milliseconds, "print" prints "text" "n" times, "big" returns a string of "n" bytes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
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
		return map[string]any{"slept": ev.Ms}, nil
	case "print":
		for range max(ev.N, 1) {
			fmt.Println(ev.Text)
		}
		return map[string]any{"printed": ev.N}, nil
	case "big":
		return strings.Repeat("x", ev.N), nil
	}
	return nil, fmt.Errorf("unknown cmd %q", ev.Cmd)
}

func main() {
	fmt.Println("probe init")
	lambda.Start(handle)
}
