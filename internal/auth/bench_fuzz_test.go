package auth

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// captureClient is an HTTP client for the SDK that keeps the request it is
// given and answers {}.
type captureClient struct {
	req  *http.Request
	body []byte
}

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.req, c.body = r, body
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader("{}")),
	}, nil
}

// sdkInvokeRequest returns the request the SDK sends for an Invoke of a
// function by ARN with payload, as a server would receive it.
func sdkInvokeRequest(tb testing.TB, payload []byte) (*http.Request, []byte) {
	tb.Helper()
	capture := &captureClient{}
	client := lambda.NewFromConfig(aws.Config{
		Region:      testRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testKey.AccessKeyID, testKey.SecretAccessKey, ""),
	}, func(o *lambda.Options) {
		o.BaseEndpoint = aws.String("http://127.0.0.1:9001")
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = capture
	})
	_, err := client.Invoke(tb.Context(), &lambda.InvokeInput{
		FunctionName: aws.String(helloARN),
		Payload:      payload,
		LogType:      types.LogTypeTail,
	})
	if err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest(capture.req.Method, capture.req.URL.RequestURI(), bytes.NewReader(capture.body))
	r.Host = capture.req.URL.Host
	r.Header = capture.req.Header.Clone()
	return r, capture.body
}

func BenchmarkVerify(b *testing.B) {
	v := NewVerifier(testKey)
	for _, size := range []int{256, 64 << 10} {
		b.Run(fmt.Sprintf("payload=%d", size), func(b *testing.B) {
			payload := []byte(`{"data":"` + strings.Repeat("x", size-len(`{"data":""}`)) + `"}`)
			r, body := sdkInvokeRequest(b, payload)
			if err := v.Verify(r, body); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(r, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerify feeds arbitrary Authorization and X-Amz-Date headers to
// Verify, seeded with the headers of the rawRequests table signed with the
// wrong secret, so that no input may be accepted.
func FuzzVerify(f *testing.F) {
	const body = `{"a":1}`
	wrongSecret := Credentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: otherKey.SecretAccessKey}
	for _, rr := range rawRequests {
		if rr.sign {
			rr.key = wrongSecret
		}
		req := rr.build(f, "http://example.com")
		f.Add(req.Header.Get("Authorization"), req.Header.Get("X-Amz-Date"))
	}
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature=", "00000000T000000Z")
	f.Add("AWS4-HMAC-SHA256 ,,,=,==", "")

	v := NewVerifier(testKey)
	f.Fuzz(func(t *testing.T, authorization, amzDate string) {
		r := httptest.NewRequest(http.MethodPost, "/2015-03-31/functions/hello/invocations", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header["Authorization"] = []string{authorization}
		r.Header["X-Amz-Date"] = []string{amzDate}
		err := v.Verify(r, []byte(body))
		if err == nil {
			t.Fatalf("Verify accepted Authorization %q, X-Amz-Date %q", authorization, amzDate)
		}
		checkError(t, err)
	})
}
