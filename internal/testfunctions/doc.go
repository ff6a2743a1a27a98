// Package testfunctions holds real Lambda functions that Lambent's tests build and deploy:
// probe is an aws-lambda-go handler driven by its event, raw talks the Runtime API by hand to
// exercise what aws-lambda-go never does (init errors, wrong request ids, double responses).
package testfunctions
