// Package testfunctions holds real Lambda functions that Lambent's tests and benchmarks build
// and deploy: probe is an aws-lambda-go handler driven by its event; raw talks the Runtime API
// by hand to exercise what aws-lambda-go never does (init errors, wrong request ids, double
// responses); witness marks each invocation's start and end in a host directory (for restart
// tests); empty is the empty aws-lambda-go handler the benchmarks measure.
package testfunctions
