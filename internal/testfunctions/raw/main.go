// Command raw is a Lambda runtime written against the Runtime API by hand, for tests of what
// aws-lambda-go never does. RAW_MODE says how it misbehaves:
//
//	init-error   posts to /runtime/init/error and exits
//	wrong-id     answers with another request id, then with the right one
//	twice        answers twice
//	echo         answers with the event
//
// It reports every Runtime API answer it gets in the response body.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/"
	mode := os.Getenv("RAW_MODE")
	if mode == "init-error" {
		req, _ := http.NewRequest("POST", api+"init/error", bytes.NewReader([]byte(`{"errorMessage":"raw init failed","errorType":"Raw.InitFailure"}`)))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Raw.InitFailure")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		fmt.Println("raw init failed")
		os.Exit(1)
	}
	for {
		resp, err := http.Get(api + "invocation/next")
		if err != nil {
			os.Exit(2)
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		var seen []map[string]any
		post := func(id string, body []byte) {
			r, err := http.Post(api+"invocation/"+id+"/response", "application/json", bytes.NewReader(body))
			if err != nil {
				seen = append(seen, map[string]any{"error": err.Error()})
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			seen = append(seen, map[string]any{"status": r.StatusCode, "body": string(b)})
		}
		switch mode {
		case "wrong-id":
			post("00000000-0000-0000-0000-000000000000", []byte(`"wrong"`))
			out, _ := json.Marshal(map[string]any{"seen": seen})
			post(id, out)
		case "twice":
			post(id, []byte(`"first"`))
			post(id, []byte(`"second"`))
			fmt.Println("twice:", seen[1]["status"], seen[1]["body"])
		default:
			post(id, event)
		}
	}
}
