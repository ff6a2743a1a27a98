package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var (
	testKey    = Credentials{AccessKeyID: "LKIAEXAMPLE234567ABC", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	otherKey   = Credentials{AccessKeyID: "LKIAOTHER0234567ABCD", SecretAccessKey: "0therSecret/0therSecret/0therSecret+0the"}
	sentinels  = []error{ErrMissingAuth, ErrIncomplete, ErrUnknownKey, ErrBadSignature, ErrExpired}
	helloARN   = "arn:aws:lambda:us-east-1:000000000000:function:hello"
	testRegion = "us-east-1"
)

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// rawRequest is a request that the test signs with the v4 signer itself,
// then edits, to send what no SDK would.
type rawRequest struct {
	name   string
	method string
	path   string
	body   string
	// sign reports whether to sign the request, at what time (at, or
	// now plus age), with which key, region and service.
	sign    bool
	at      time.Time
	age     time.Duration
	key     Credentials
	region  string
	service string
	// prepare changes the request before signing, edit after.
	prepare, edit func(*http.Request)
	want          error
}

func (rr rawRequest) build(t testing.TB, baseURL string) *http.Request {
	t.Helper()
	method := rr.method
	if method == "" {
		method = http.MethodPost
	}
	path := rr.path
	if path == "" {
		path = "/2015-03-31/functions/hello/invocations"
	}
	req, err := http.NewRequestWithContext(t.Context(), method, baseURL+path, strings.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if rr.prepare != nil {
		rr.prepare(req)
	}
	if rr.sign {
		key, region, svc := rr.key, rr.region, rr.service
		if key == (Credentials{}) {
			key = testKey
		}
		if region == "" {
			region = testRegion
		}
		if svc == "" {
			svc = "lambda"
		}
		creds := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
		at := rr.at
		if at.IsZero() {
			at = time.Now().Add(rr.age)
		}
		err := v4.NewSigner().SignHTTP(t.Context(), creds, req, payloadHash([]byte(rr.body)), svc, region, at)
		if err != nil {
			t.Fatal(err)
		}
	}
	if rr.edit != nil {
		rr.edit(req)
	}
	return req
}

func setBody(body string) func(*http.Request) {
	return func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
	}
}

func setHeader(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func editAuthorization(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}

var rawRequests = []rawRequest{
	{name: "signed", sign: true, body: `{"a":1}`, want: nil},
	{name: "signed GET", sign: true, method: http.MethodGet, path: "/2015-03-31/functions/?MaxItems=5&Marker=a%2Fb", want: nil},
	{name: "other region", sign: true, region: "eu-central-1", body: `{}`, want: nil},
	{name: "content sha256 header", sign: true, body: `{"a":1}`, prepare: setHeader("X-Amz-Content-Sha256", payloadHash([]byte(`{"a":1}`))), want: nil},
	{name: "session token", sign: true, body: `{}`, prepare: setHeader("X-Amz-Security-Token", "FwoGZXIvYXdzEBYaDExample"), want: nil},
	{name: "session token changed", sign: true, body: `{}`, prepare: setHeader("X-Amz-Security-Token", "FwoGZXIvYXdzEBYaDExample"),
		edit: setHeader("X-Amz-Security-Token", "FwoGZXIvYXdzEBYaDOther"), want: ErrBadSignature},
	{name: "no Authorization", body: `{}`, want: ErrMissingAuth},
	{name: "empty Authorization", body: `{}`, edit: setHeader("Authorization", ""), want: ErrMissingAuth},
	{name: "garbled", body: `{}`, edit: setHeader("Authorization", "AWS4-HMAC-SHA256 garbage"), want: ErrIncomplete},
	{name: "other algorithm", sign: true, body: `{}`, edit: editAuthorization("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), want: ErrIncomplete},
	{name: "no signature", sign: true, body: `{}`, edit: func(r *http.Request) {
		h := r.Header.Get("Authorization")
		r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
	}, want: ErrIncomplete},
	{name: "short credential", sign: true, body: `{}`, edit: editAuthorization("/us-east-1/lambda/aws4_request", "/lambda/aws4_request"), want: ErrIncomplete},
	{name: "bad terminator", sign: true, body: `{}`, edit: editAuthorization("aws4_request", "aws5_request"), want: ErrIncomplete},
	{name: "no X-Amz-Date", sign: true, body: `{}`, edit: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, want: ErrIncomplete},
	{name: "bad X-Amz-Date", sign: true, body: `{}`, edit: setHeader("X-Amz-Date", "2024-01-01T00:00:00Z"), want: ErrIncomplete},
	{name: "body swapped", sign: true, body: `{"amount":1}`, edit: setBody(`{"amount":9}`), want: ErrBadSignature},
	{name: "body added", sign: true, body: ``, edit: setBody(`{"amount":9}`), want: ErrBadSignature},
	{name: "signed header changed", sign: true, body: `{}`, edit: setHeader("Content-Type", "text/plain"), want: ErrBadSignature},
	{name: "query added", sign: true, body: `{}`, edit: func(r *http.Request) { r.URL.RawQuery = "Qualifier=prod" }, want: ErrBadSignature},
	{name: "path changed", sign: true, body: `{}`, edit: func(r *http.Request) { r.URL.Path = "/2015-03-31/functions/evil/invocations" }, want: ErrBadSignature},
	{name: "method changed", sign: true, method: http.MethodPut, body: `{}`, edit: func(r *http.Request) { r.Method = http.MethodPost }, want: ErrBadSignature},
	{name: "signed header list changed", sign: true, body: `{}`, edit: editAuthorization("SignedHeaders=", "SignedHeaders=accept;"), want: ErrBadSignature},
	{name: "authorization in signed headers", sign: true, body: `{}`, edit: editAuthorization("SignedHeaders=", "SignedHeaders=authorization;"), want: ErrBadSignature},
	{name: "signed headers unsorted", sign: true, body: `{}`, edit: editAuthorization("content-length;content-type;host", "host;content-type;content-length"), want: ErrBadSignature},
	{name: "content sha256 mismatch", sign: true, body: `{}`, edit: setHeader("X-Amz-Content-Sha256", payloadHash([]byte("other"))), want: ErrBadSignature},
	{name: "unsigned payload", sign: true, body: `{}`, edit: setHeader("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"), want: ErrBadSignature},
	{name: "other service", sign: true, service: "s3", body: `{}`, want: ErrBadSignature},
	{name: "scope date differs from X-Amz-Date", sign: true, body: `{}`, edit: func(r *http.Request) {
		day := r.Header.Get("X-Amz-Date")[:8]
		editAuthorization("/"+day+"/", "/20000101/")(r)
	}, want: ErrBadSignature},
	{name: "unknown key", sign: true, key: Credentials{AccessKeyID: "LKIANOBODY0234567ABC", SecretAccessKey: "x"}, body: `{}`, want: ErrUnknownKey},
	{name: "20 minutes old", sign: true, age: -20 * time.Minute, body: `{}`, want: ErrExpired},
	{name: "20 minutes ahead", sign: true, age: 20 * time.Minute, body: `{}`, want: ErrExpired},
	{name: "14 minutes old", sign: true, age: -14 * time.Minute, body: `{}`, want: nil},
}

// TestVerifyRaw sends hand-made requests over HTTP.
func TestVerifyRaw(t *testing.T) {
	srv, outcomes := newServer(t, NewVerifier(testKey), nil)
	for _, tt := range rawRequests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := srv.Client().Do(tt.build(t, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := only(t, outcomes).err
			if !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
			if got != nil {
				checkError(t, got)
			}
		})
	}
}

// checkError checks the contract of Verify's errors: each matches exactly
// one sentinel and reads like AWS's message.
func checkError(t testing.TB, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %q matches %d sentinel errors, want 1", err, n)
	}
	if msg := err.Error(); msg == "" || msg[0] < 'A' || msg[0] > 'Z' {
		t.Errorf("error message %q does not start with a capital letter like AWS's", msg)
	}
}

func TestVerifyMessages(t *testing.T) {
	now := time.Date(2024, 2, 29, 23, 55, 0, 0, time.UTC)
	v := NewVerifier(testKey)
	v.now = func() time.Time { return now }
	srv, outcomes := newServer(t, v, nil)
	tests := []struct {
		req  rawRequest
		want string
	}{
		{rawRequest{}, "Missing Authentication Token"},
		{rawRequest{sign: true, at: now.Add(-20 * time.Minute)},
			"Signature expired: 20240229T233500Z is now earlier than 20240229T234000Z (20240229T235500Z - 15 min.)"},
		{rawRequest{sign: true, at: now.Add(16 * time.Minute)},
			"Signature not yet current: 20240301T001100Z is still later than 20240301T001000Z (20240229T235500Z + 15 min.)"},
		{rawRequest{sign: true, at: now.Add(10 * time.Minute)}, ""}, // the next day, but in time
		{rawRequest{sign: true, at: now, key: otherKey}, ErrUnknownKey.Error()},
		{rawRequest{sign: true, at: now, key: Credentials{testKey.AccessKeyID, "wrong"}}, ErrBadSignature.Error()},
		{rawRequest{sign: true, at: now, service: "sts"}, "Credential should be scoped to correct service: 'lambda'."},
		{rawRequest{sign: true, at: now, edit: func(r *http.Request) { r.Header.Del("X-Amz-Date") }},
			"Authorization header requires existence of a 'X-Amz-Date' header."},
		{rawRequest{edit: setHeader("Authorization", "AWS4-HMAC-SHA256 Signature=abc")},
			"Authorization header requires 'Credential' parameter. Authorization header requires 'SignedHeaders' parameter."},
	}
	for _, tt := range tests {
		resp, err := srv.Client().Do(tt.req.build(t, srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := only(t, outcomes).err
		if tt.want == "" {
			if got != nil {
				t.Errorf("Verify = %v, want nil", got)
			}
			continue
		}
		if got == nil || got.Error() != tt.want {
			t.Errorf("Verify error = %v, want %q", got, tt.want)
		}
	}
}

// TestVerifySignedUserAgent documents a limitation: a client that signs
// User-Agent (the AWS SDK for Java 1.x does) is rejected, because the v4
// signer never signs it. The test makes such a request by keying the header
// in lower case, which the signer's case-sensitive ignore list misses.
func TestVerifySignedUserAgent(t *testing.T) {
	srv, outcomes := newServer(t, NewVerifier(testKey), nil)
	req := rawRequest{body: `{}`}.build(t, srv.URL)
	req.Header["user-agent"] = []string{"aws-sdk-java/1.12.700"}
	creds := aws.Credentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, payloadHash([]byte(`{}`)), "lambda", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "user-agent") {
		t.Skip("the v4 signer no longer signs a lower-case user-agent key; cannot build the request")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := only(t, outcomes).err; !errors.Is(got, ErrBadSignature) {
		t.Errorf("Verify = %v, want %v (known limitation)", got, ErrBadSignature)
	}
}

// TestVerifyManyRegions verifies, concurrently, requests scoped to more
// regions than get a cached signer.
func TestVerifyManyRegions(t *testing.T) {
	v := NewVerifier(testKey)
	var reqs []*http.Request
	for i := range 3 * maxCachedRegions {
		region := fmt.Sprintf("xx-test-%d", i)
		req := rawRequest{sign: true, region: region, body: `{}`}.build(t, "http://lambda.local")
		r := httptest.NewRequest(req.Method, req.URL.RequestURI(), nil)
		r.Header, r.Host, r.ContentLength = req.Header, req.Host, req.ContentLength
		reqs = append(reqs, r)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, r := range reqs {
				if err := v.Verify(r, []byte(`{}`)); err != nil {
					t.Errorf("%s: %v", r.Header.Get("Authorization"), err)
				}
			}
		})
	}
	wg.Wait()
	if n := v.keys[testKey.AccessKeyID].nsigners.Load(); n != maxCachedRegions {
		t.Errorf("cached signers = %d, want %d", n, maxCachedRegions)
	}
}
