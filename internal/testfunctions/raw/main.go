// Command raw is a Lambda runtime written against the Runtime API by hand, for tests of what
// aws-lambda-go never does. What it does with an invocation is the event's "do", or else
// RAW_MODE:
//
//	init-error   (RAW_MODE only) posts to /runtime/init/error and exits
//	wrong-id     answers with another request id, then with the right one
//	twice        answers twice
//	big          answers with a JSON string of "n" bytes (default 7,000,000)
//	report       answers with a report
//	echo         answers with the event (the default)
//
// A report is {"pid":…,"seen":[…],"previous":[…]}: the Runtime API's answers to this
// invocation's posts so far, and to all of the previous invocation's posts.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// answer is how the Runtime API answered one post.
type answer struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"
	mode := os.Getenv("RAW_MODE")
	if mode == "init-error" {
		fmt.Printf("raw init failed pid=%d\n", os.Getpid())
		req, _ := http.NewRequest("POST", api+"init/error", bytes.NewReader([]byte(`{"errorMessage":"raw init failed","errorType":"Raw.InitFailure"}`)))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Raw.InitFailure")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}
	var previous []answer
	for {
		resp, err := http.Get(api + "invocation/next")
		if err != nil {
			os.Exit(2)
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		var ev struct {
			Do string `json:"do"`
			N  int    `json:"n"`
		}
		json.Unmarshal(event, &ev)
		var seen []answer
		post := func(id string, body []byte) {
			r, err := http.Post(api+"invocation/"+id+"/response", "application/json", bytes.NewReader(body))
			if err != nil {
				seen = append(seen, answer{Error: err.Error()})
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			seen = append(seen, answer{Status: r.StatusCode, Body: string(b)})
		}
		report := func() []byte {
			b, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "seen": seen, "previous": previous})
			return b
		}
		switch cmp.Or(ev.Do, mode) {
		case "wrong-id":
			post("00000000-0000-0000-0000-000000000000", []byte(`"wrong"`))
			post(id, report())
		case "twice":
			post(id, report())
			post(id, []byte(`"second"`))
		case "big":
			post(id, []byte(`"`+strings.Repeat("x", cmp.Or(ev.N, 7000000))+`"`))
		case "report":
			post(id, report())
		default:
			post(id, event)
		}
		previous = seen
	}
}
