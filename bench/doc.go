// Package bench measures Lambent against the physical floor of the machine it runs on: every
// figure (warm invoke latency, warm throughput, cold start) is printed beside a floor measured in
// the same run, because absolute times drift between runs and machines and the ratio is what
// holds (BRIEF.md, "Performance targets"). The package has no code of its own outside its
// benchmarks; echoserver and benchserver are the helper programs they build and run.
//
// Run it with
//
//	go test -run '^$' -bench . ./bench/
//
// LAMBENT_BENCH_INPROCESS=1 runs the server inside the test binary, so that go test's
// -cpuprofile sees it (the client then shares the process, which flatters latency);
// LAMBENT_BENCH_PROFILE_DIR=DIR writes a CPU profile of each separate server process there.
package bench
