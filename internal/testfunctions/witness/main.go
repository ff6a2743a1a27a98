// Command witness is a Lambda function built with aws-lambda-go that leaves evidence of each
// invocation on the host, for tests of what happens to invocations across a server crash. For
// request id ID it creates $WITNESS_DIR/ID.start when the handler begins, sleeps the event's
// "ms" milliseconds, then creates $WITNESS_DIR/ID.done. It only works where the sandbox lets
// the function write to the host directory (the process driver).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Ms int `json:"ms"`
}

func handle(ctx context.Context, ev event) (map[string]any, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.AwsRequestID == "" {
		return nil, errors.New("no request id in the context")
	}
	dir := os.Getenv("WITNESS_DIR")
	if dir == "" {
		return nil, errors.New("WITNESS_DIR is not set")
	}
	mark := func(suffix string) error {
		name := filepath.Join(dir, lc.AwsRequestID+suffix)
		return os.WriteFile(name, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	}
	if err := mark(".start"); err != nil {
		return nil, err
	}
	fmt.Println("witness sleeping", ev.Ms, "ms")
	time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
	if err := mark(".done"); err != nil {
		return nil, err
	}
	return map[string]any{"requestId": lc.AwsRequestID, "slept": ev.Ms}, nil
}

func main() {
	lambda.Start(handle)
}
