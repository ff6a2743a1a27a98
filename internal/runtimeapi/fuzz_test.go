package runtimeapi

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRouter serves one arbitrary request to an API whose runtime is at stage (0: initialising,
// 1: holding invocation id, 2: answered it). The API must never panic, never fail with a 5xx,
// deliver at most one result, and deliver one only to a request that names id.
func FuzzRouter(f *testing.F) {
	seeds := []struct {
		method, path, header, body string
	}{
		{"GET", base + "invocation/next", "", ""},
		{"POST", base + "invocation/" + id + "/response", "Content-Type: application/json", `{"ok":true}`},
		{"POST", base + "invocation/" + id + "/error", "Lambda-Runtime-Function-Error-Type: Function.Boom", `{"errorMessage":"boom","errorType":"errorString"}`},
		{"POST", base + "invocation/" + id + "/error", "", `it broke`},
		{"POST", base + "invocation/00000000-0000-0000-0000-000000000000/response", "", `"wrong"`},
		{"POST", base + "invocation/" + strings.ToUpper(id) + "/response", "", `"case"`},
		{"POST", base + "invocation/" + id + "%2F/response", "", `"escaped"`},
		{"POST", base + "invocation/" + id + "/response/", "", `"slash"`},
		{"POST", base + "invocation//response", "", `"empty id"`},
		{"POST", base + "init/error", "Lambda-Runtime-Function-Error-Type: Init.Bad", `{"errorMessage":"no config"}`},
		{"GET", base + "invocation/" + id + "/response", "", ""},
		{"PUT", base + "invocation/" + id + "/response", "", `"put"`},
		{"POST", "/2018-06-01/runtime/../runtime/invocation/" + id + "/response", "", `"dots"`},
		{"POST", "/2020-01-01/extension/register", "Lambda-Extension-Name: x", `{"events":["INVOKE"]}`},
	}
	for stage := range uint8(3) {
		for _, s := range seeds {
			f.Add(stage, s.method, s.path, s.header, []byte(s.body))
		}
	}
	f.Fuzz(func(t *testing.T, stage uint8, method, path, header string, body []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // an invocation/next must not wait for an offer that never comes
		r, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		for line := range strings.SplitSeq(header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		api := New()
		inv := newInvocation(id)
		if stage%3 > 0 {
			deliver(t, api, inv)
		}
		if stage%3 > 1 {
			if w := call(api, "POST", base+"invocation/"+id+"/response", nil, []byte(`"done"`)); w.Code != http.StatusAccepted {
				t.Fatalf("answering: %d", w.Code)
			}
			<-inv.Done()
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Errorf("%s %q: status %d", method, path, w.Code)
		}
		var results int
		for len(inv.Done()) > 0 {
			<-inv.Done()
			results++
		}
		if results == 0 {
			return
		}
		if results > 1 || stage%3 != 1 {
			t.Fatalf("%s %q at stage %d delivered %d results", method, path, stage%3, results)
		}
		if r.Method != "POST" || (r.URL.Path != base+"invocation/"+id+"/response" && r.URL.Path != base+"invocation/"+id+"/error") {
			t.Fatalf("%s %q (path %q) delivered a result for invocation %s", method, path, r.URL.Path, id)
		}
		if w.Code != http.StatusAccepted && w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %q delivered a result but answered %d", method, path, w.Code)
		}
	})
}
