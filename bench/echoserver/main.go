// Command echoserver is the floor of Lambent's warm benchmarks: a plain Go HTTP/1.1 server that
// answers every request with its body. The benchmark runs it as a separate process, so that a
// round trip to it costs what a hop between two processes on loopback costs on this machine.
//
// It prints its address on the first line of stdout and exits when stdin closes.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(body)
	}))
}
