// Package auth authenticates requests to Lambent's Lambda API: it verifies
// their AWS Signature Version 4 against the server's access keys, and it
// loads, or creates on first start, the key the server accepts.
//
// The signature is computed by the AWS SDK's own signer
// (github.com/aws/aws-sdk-go-v2/aws/signer/v4), never by hand, so this
// package agrees with AWS clients exactly where that signer does (see
// [Verifier.Verify] for the cases where it cannot).
//
// auth only says whether a request is signed by a known key. It does not
// authorize (every known key may call every operation), it does not read
// request bodies (the caller hands the body in), and it does not write HTTP
// responses: the API edge maps the sentinel errors below to AWS error types.
package auth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error returned by [Verifier.Verify] matches exactly
// one of them with [errors.Is], and its Error text is the message AWS would
// send for it, so the API edge can write err.Error() as the message of:
var (
	// ErrMissingAuth: no Authorization header.
	// 403 MissingAuthenticationTokenException.
	ErrMissingAuth = errors.New("missing authentication token")
	// ErrIncomplete: the Authorization header or X-Amz-Date is malformed.
	// 400 IncompleteSignatureException.
	ErrIncomplete = errors.New("incomplete signature")
	// ErrUnknownKey: the access key id is not one of the server's.
	// 403 UnrecognizedClientException.
	//lint:ignore ST1005 AWS's message, which clients show verbatim
	ErrUnknownKey = errors.New("The security token included in the request is invalid.")
	// ErrBadSignature: the signature does not match.
	// 403 InvalidSignatureException.
	//lint:ignore ST1005 AWS's message, which clients show verbatim
	ErrBadSignature = errors.New("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	// ErrExpired: X-Amz-Date is more than [MaxSkew] away from now.
	// 403 InvalidSignatureException.
	ErrExpired = errors.New("signature expired")
)

// MaxSkew is how far X-Amz-Date may be from the server's clock, as in AWS.
const MaxSkew = 15 * time.Minute

// sigError is an error of one of the sentinel kinds with AWS's message.
type sigError struct {
	kind error
	msg  string
}

func (e *sigError) Error() string { return e.msg }
func (e *sigError) Unwrap() error { return e.kind }

var errMissingAuth = &sigError{ErrMissingAuth, "Missing Authentication Token"}

func incomplete(format string, args ...any) error {
	return &sigError{ErrIncomplete, fmt.Sprintf(format, args...)}
}

func badSignature(format string, args ...any) error {
	return &sigError{ErrBadSignature, fmt.Sprintf(format, args...)}
}
