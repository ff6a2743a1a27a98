package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// fnInvoke invokes name with payload; an API error fails the test.
func fnInvoke(t testing.TB, c *lambda.Client, name, payload string, opts ...func(*lambda.InvokeInput)) *lambda.InvokeOutput {
	t.Helper()
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload)}
	for _, o := range opts {
		o(in)
	}
	out, err := c.Invoke(context.Background(), in)
	if err != nil {
		t.Fatalf("Invoke %s %s: %v", name, payload, err)
	}
	return out
}

func withTail(in *lambda.InvokeInput) { in.LogType = types.LogTypeTail }

// fnOK invokes name, requires success and decodes the payload.
func fnOK(t testing.TB, c *lambda.Client, name, payload string, opts ...func(*lambda.InvokeInput)) map[string]any {
	t.Helper()
	out := fnInvoke(t, c, name, payload, opts...)
	if out.FunctionError != nil {
		t.Fatalf("Invoke %s %s: function error %s: %s", name, payload, aws.ToString(out.FunctionError), out.Payload)
	}
	return fnJSON(t, out.Payload)
}

func fnJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %.200q: %v", b, err)
	}
	return m
}

// fnPid is the pid a probe or raw payload reports.
func fnPid(t testing.TB, m map[string]any) int {
	t.Helper()
	pid, ok := m["pid"].(float64)
	if !ok {
		t.Fatalf("no pid in %v", m)
	}
	return int(pid)
}

// logTail decodes X-Amz-Log-Result.
func logTail(t testing.TB, out *lambda.InvokeOutput) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatalf("X-Amz-Log-Result %q: %v", aws.ToString(out.LogResult), err)
	}
	return string(b)
}

// requestID is the invocation's request id, as the API answered it (x-amzn-RequestId).
func requestID(t testing.TB, out *lambda.InvokeOutput) string {
	t.Helper()
	id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if !ok || id == "" {
		t.Fatal("no request id in the Invoke response")
	}
	return id
}

// report is a parsed REPORT line.
type report struct {
	requestID                 string
	duration, billed, init    float64
	memorySize, maxMemoryUsed int
	hasInit                   bool
}

var reportLineRE = regexp.MustCompile(`(?m)^REPORT RequestId: (\S+)\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\tMemory Size: (\d+) MB\tMax Memory Used: (\d+) MB\t(?:Init Duration: (\d+\.\d\d) ms\t)?$`)

// parseReport finds the REPORT line in log text.
func parseReport(t testing.TB, log string) report {
	t.Helper()
	m := reportLineRE.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no REPORT line like %v in:\n%s", reportLineRE, log)
	}
	r := report{requestID: m[1], hasInit: m[6] != ""}
	r.duration, _ = strconv.ParseFloat(m[2], 64)
	r.billed, _ = strconv.ParseFloat(m[3], 64)
	r.memorySize, _ = strconv.Atoi(m[4])
	r.maxMemoryUsed, _ = strconv.Atoi(m[5])
	r.init, _ = strconv.ParseFloat(m[6], 64)
	return r
}

// running reports whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}
