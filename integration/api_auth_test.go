package integration

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lambent/lambent/internal/lambenttest"
)

// TestAuthErrors: every operation refuses a request that is not signed with the server's key,
// with the error the SDKs expect.
func TestAuthErrors(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	s.CreateFunction(t, "guarded", lambenttest.Function(t, "probe"))
	anonymous := lambda.New(lambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
	})
	clients := []struct {
		name   string
		client *lambda.Client
		code   string
	}{
		{"unknown key", lambenttest.NewClient(s.Endpoint, "LKIAUNKNOWNUNKNOWN00", lambenttest.SecretAccessKey), "UnrecognizedClientException"},
		{"wrong secret", lambenttest.NewClient(s.Endpoint, lambenttest.AccessKeyID, "not-the-secret"), "InvalidSignatureException"},
		{"no credentials", anonymous, "MissingAuthenticationTokenException"},
	}
	ctx, name := context.Background(), aws.String("guarded")
	ops := map[string]func(c *lambda.Client) error{
		"ListFunctions": func(c *lambda.Client) error { _, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{}); return err },
		"GetFunction": func(c *lambda.Client) error {
			_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: name})
			return err
		},
		"Invoke": func(c *lambda.Client) error {
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: name, Payload: []byte(`{}`)})
			return err
		},
		"DeleteFunction": func(c *lambda.Client) error {
			_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: name})
			return err
		},
		"GetAccountSettings": func(c *lambda.Client) error {
			_, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
			return err
		},
	}
	for _, cl := range clients {
		for op, call := range ops {
			t.Run(cl.name+"/"+op, func(t *testing.T) { wantError(t, call(cl.client), cl.code, 403) })
		}
	}

	t.Run("no Authorization header", func(t *testing.T) {
		for _, path := range []string{"/2015-03-31/functions/", "/2015-03-31/functions/guarded", "/2016-08-19/account-settings/"} {
			r := do(t, must(http.NewRequest("GET", s.Endpoint+path, nil)))
			if got := r.Header.Get("X-Amzn-ErrorType"); r.Status != 403 || got != "MissingAuthenticationTokenException" {
				t.Errorf("GET %s unsigned: %d %q %s, want 403 MissingAuthenticationTokenException", path, r.Status, got, r.Body)
			}
		}
	})

	t.Run("body changed after signing", func(t *testing.T) {
		req := must(http.NewRequest("POST", s.Endpoint+"/2015-03-31/functions/guarded/invocations", nil))
		sign(t, req, []byte(`{"a":1}`), lambenttest.AccessKeyID, lambenttest.SecretAccessKey)
		req.Body = http.NoBody
		req.ContentLength = 0
		if r := do(t, req); r.Status != 403 || r.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
			t.Errorf("got %d %q %s, want 403 InvalidSignatureException", r.Status, r.Header.Get("X-Amzn-ErrorType"), r.Body)
		}
	})

	// The function is still there: none of the refused requests reached it.
	if _, err := s.Client().GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: name}); err != nil {
		t.Errorf("after refused requests: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
