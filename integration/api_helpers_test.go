package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"github.com/lambent/lambent/internal/lambenttest"
)

// rawResponse is an API response as it came over the wire.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r rawResponse) JSON(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response body %q: %v", r.Body, err)
	}
	return v
}

// rawCall sends one request to s signed with the test key by aws-sdk-go-v2's SigV4 signer, for
// the requests and the raw bodies the SDK does not expose. body is sent as is; a non-nil value
// that is not []byte is sent as JSON.
func rawCall(t testing.TB, s *lambenttest.Server, method, path string, body any) rawResponse {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, s.Endpoint+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sign(t, req, data, lambenttest.AccessKeyID, lambenttest.SecretAccessKey)
	return do(t, req)
}

// sign signs req as aws-sdk-go-v2 signs Lambda requests.
func sign(t testing.TB, req *http.Request, body []byte, akid, secret string) {
	t.Helper()
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "lambda", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func do(t testing.TB, req *http.Request) rawResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// apiError is what an SDK call's error says: the error code, the HTTP status and the error type
// the server put in X-Amzn-ErrorType.
type apiError struct {
	Code      string
	Status    int
	ErrorType string
}

// errorOf takes err apart; it fails the test if err is not an API error.
func errorOf(t testing.TB, err error) apiError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got error %v (%T), want an API error", err, err)
	}
	got := apiError{Code: ae.ErrorCode()}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		got.Status = re.HTTPStatusCode()
		got.ErrorType = re.Response.Header.Get("X-Amzn-ErrorType")
	}
	return got
}

// wantError checks that err is the API error code with status, announced in X-Amzn-ErrorType.
func wantError(t testing.TB, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s (%d)", code, status)
	}
	got, want := errorOf(t, err), apiError{Code: code, Status: status, ErrorType: code}
	if got != want {
		t.Errorf("got %+v, want %+v (%v)", got, want, err)
	}
}

// waitUpdated waits until name's last update is no longer in progress.
func waitUpdated(t testing.TB, c *lambda.Client, name string) {
	t.Helper()
	w := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 100*time.Millisecond
	})
	if err := w.Wait(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("waiting for the update of %s: %v", name, err)
	}
}

// testName turns a (sub)test's name into a function name.
func testName(t testing.TB) string {
	name := strings.Trim(notNameChars.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 64 {
		name = strings.Trim(name[len(name)-64:], "-")
	}
	return name
}

var notNameChars = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// query builds a path with query parameters.
func query(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// as reports whether err is, or wraps, an error of type T: the SDK's typed errors.
func as[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}
