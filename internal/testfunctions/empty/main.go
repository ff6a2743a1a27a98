// Command empty is the empty aws-lambda-go handler of Lambent's benchmarks: it returns its event
// unchanged and does nothing else, so that an invocation costs only what the platform and
// aws-lambda-go add (bench/ compares it with a plain HTTP echo server).
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, ev json.RawMessage) (json.RawMessage, error) {
		return ev, nil
	})
}
