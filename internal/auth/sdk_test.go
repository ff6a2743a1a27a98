package auth

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// outcome is what the test server saw of one request.
type outcome struct {
	requestURI    string
	authorization string
	err           error
}

// newServer starts a server that verifies every request with v, after
// passing its body through tamper if that is not nil, and answers {}.
// Outcomes arrive on the returned channel before the response is written.
func newServer(t testing.TB, v *Verifier, tamper func([]byte) []byte) (*httptest.Server, <-chan outcome) {
	t.Helper()
	outcomes := make(chan outcome, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			if tamper != nil {
				body = tamper(body)
			}
			header, uri := r.Header.Clone(), r.URL.String()
			err = v.Verify(r, body)
			if !reflect.DeepEqual(r.Header, header) || r.URL.String() != uri {
				t.Errorf("Verify modified the request: header %v, URL %s; was %v, %s", r.Header, r.URL, header, uri)
			}
		}
		outcomes <- outcome{r.RequestURI, r.Header.Get("Authorization"), err}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	return srv, outcomes
}

// only returns the one outcome the server recorded for the request that
// has just returned.
func only(t testing.TB, outcomes <-chan outcome) outcome {
	t.Helper()
	var got []outcome
	for {
		select {
		case o := <-outcomes:
			got = append(got, o)
			continue
		default:
		}
		break
	}
	if len(got) != 1 {
		t.Fatalf("server saw %d requests, want 1: %+v", len(got), got)
	}
	return got[0]
}

func newLambdaClient(url string, c aws.Credentials) *lambda.Client {
	cfg := aws.Config{
		Region:      testRegion,
		Credentials: credentials.StaticCredentialsProvider{Value: c},
	}
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		o.BaseEndpoint = aws.String(url)
		o.Retryer = aws.NopRetryer{}
	})
}

func testZip(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	f, err := zw.Create("index.py")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "def handler(event, context):\n    return event\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sdkOperations are calls of the AWS SDK for Go's Lambda client that
// exercise queries, escaped paths, extra signed headers and bodies. Their
// results do not matter (the server answers {}); wantURI and wantSigned
// are substrings of the request URI and the Authorization header that show
// the call went out as intended.
func sdkOperations(t testing.TB) []struct {
	name, wantURI, wantSigned string
	call                      func(context.Context, *lambda.Client) error
} {
	zipFile := testZip(t)
	clientContext := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`))
	return []struct {
		name, wantURI, wantSigned string
		call                      func(context.Context, *lambda.Client) error
	}{
		{"ListFunctions", "Marker=next%20page%2F%2B%3D&MaxItems=10", "host;x-amz-date", func(ctx context.Context, c *lambda.Client) error {
			_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{Marker: aws.String("next page/+="), MaxItems: aws.Int32(10)})
			return err
		}},
		{"GetFunction/ARN", "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello%3A%24LATEST", "host;x-amz-date", func(ctx context.Context, c *lambda.Client) error {
			_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(helloARN + ":$LATEST")})
			return err
		}},
		{"Invoke", "/functions/hello/invocations", "content-length;content-type;host;x-amz-client-context;x-amz-date;x-amz-log-type", func(ctx context.Context, c *lambda.Client) error {
			_, err := c.Invoke(ctx, &lambda.InvokeInput{
				FunctionName:  aws.String("hello"),
				Payload:       []byte(`{"a":1,"b":"ü"}`),
				ClientContext: aws.String(clientContext),
				LogType:       types.LogTypeTail,
			})
			return err
		}},
		{"Invoke/Qualifier/EmptyPayload", "invocations?Qualifier=live", "host;x-amz-date", func(ctx context.Context, c *lambda.Client) error {
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("hello"), Qualifier: aws.String("live")})
			return err
		}},
		{"CreateFunction", "/2015-03-31/functions", "content-length;content-type;host", func(ctx context.Context, c *lambda.Client) error {
			_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
				FunctionName: aws.String("hello"),
				Role:         aws.String("arn:aws:iam::000000000000:role/lambda"),
				Runtime:      types.RuntimePython313,
				Handler:      aws.String("index.handler"),
				Code:         &types.FunctionCode{ZipFile: zipFile},
			})
			return err
		}},
	}
}

// TestVerifySDK drives Verify with the real AWS SDK for Go.
func TestVerifySDK(t *testing.T) {
	right := aws.Credentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey}
	withToken := right
	withToken.SessionToken = "FwoGZXIvYXdzEBYaDExampleSessionToken"
	unknown := aws.Credentials{AccessKeyID: "LKIAUNKNOWN234567ABC", SecretAccessKey: testKey.SecretAccessKey}
	wrongSecret := aws.Credentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: otherKey.SecretAccessKey}
	flipFirstByte := func(b []byte) []byte {
		if len(b) == 0 {
			return []byte("x")
		}
		b[0] ^= 1
		return b
	}

	tests := []struct {
		name   string
		creds  aws.Credentials
		tamper func([]byte) []byte
		want   error
	}{
		{"right key", right, nil, nil},
		{"session token", withToken, nil, nil},
		{"unknown access key id", unknown, nil, ErrUnknownKey},
		{"wrong secret", wrongSecret, nil, ErrBadSignature},
		{"body tampered", right, flipFirstByte, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, outcomes := newServer(t, NewVerifier(otherKey, testKey), tt.tamper)
			client := newLambdaClient(srv.URL, tt.creds)
			for _, op := range sdkOperations(t) {
				op.call(t.Context(), client) // the fake answers are not valid; only verification counts
				got := only(t, outcomes)
				if !strings.Contains(got.requestURI, op.wantURI) {
					t.Errorf("%s: request URI %q does not contain %q", op.name, got.requestURI, op.wantURI)
				}
				if !strings.Contains(got.authorization, op.wantSigned) {
					t.Errorf("%s: Authorization %q does not sign %q", op.name, got.authorization, op.wantSigned)
				}
				if !errors.Is(got.err, tt.want) || (tt.want == nil) != (got.err == nil) {
					t.Errorf("%s: Verify = %v, want %v", op.name, got.err, tt.want)
				}
			}
		})
	}
}
