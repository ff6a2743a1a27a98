// Package integration drives a real Lambent server end to end with real clients and real
// functions built from aws-lambda-go.
package integration

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lambent/lambent/internal/lambenttest"
)

func TestInvokeEcho(t *testing.T) {
	s := lambenttest.Start(t)
	s.CreateFunction(t, "echo", lambenttest.Function(t, "probe"))
	out, err := s.Client().Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String("echo"),
		Payload:      []byte(`{"a":1}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Payload, &got); err != nil {
		t.Fatalf("payload %q: %v", out.Payload, err)
	}
	if got["a"] != float64(1) || out.FunctionError != nil || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Errorf("got %s, function error %v, version %v", out.Payload, aws.ToString(out.FunctionError), aws.ToString(out.ExecutedVersion))
	}
}
