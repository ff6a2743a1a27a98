package auth

import (
	"strings"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	service    = "lambda"
	// amzDateFormat is the layout of X-Amz-Date (ISO 8601 basic format).
	amzDateFormat = "20060102T150405Z"
)

// authorization is a parsed SigV4 Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request,
//	SignedHeaders=host;x-amz-date, Signature=<64 hex digits>
//
// Its strings share memory with the header.
type authorization struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	signedHeaders string // as sent: lower case, sorted, ';'-separated
	signature     string
}

// parseAuthorization parses h without allocating unless it is malformed.
// It checks the syntax only; Verify checks the values.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, algorithm)
	if !ok || rest == "" || rest[0] != ' ' {
		alg, _, _ := strings.Cut(h, " ")
		return a, incomplete("Unsupported AWS 'algorithm': '%.32s'; only %s is supported.", alg, algorithm)
	}
	var credential string
	var seenCred, seenHeaders, seenSig bool
	for rest != "" {
		var param string
		param, rest, _ = strings.Cut(rest, ",")
		param = strings.TrimSpace(param)
		name, value, ok := strings.Cut(param, "=")
		if !ok {
			return a, incomplete("Authorization header parameter must be of the form name=value, not '%.64s'.", param)
		}
		var seen *bool
		switch name {
		case "Credential":
			credential, seen = value, &seenCred
		case "SignedHeaders":
			a.signedHeaders, seen = value, &seenHeaders
		case "Signature":
			a.signature, seen = value, &seenSig
		default:
			return a, incomplete("Authorization header has an unknown parameter '%.32s'.", name)
		}
		if *seen {
			return a, incomplete("Authorization header has parameter '%s' more than once.", name)
		}
		*seen = true
	}
	if credential == "" || a.signedHeaders == "" || a.signature == "" {
		var msg strings.Builder
		for _, p := range [...]struct {
			name string
			ok   bool
		}{{"Credential", credential != ""}, {"Signature", a.signature != ""}, {"SignedHeaders", a.signedHeaders != ""}} {
			if !p.ok {
				msg.WriteString("Authorization header requires '" + p.name + "' parameter. ")
			}
		}
		return a, incomplete("%s", strings.TrimSpace(msg.String()))
	}

	// AKID/YYYYMMDD/region/service/aws4_request
	var term string
	a.accessKeyID, rest, _ = strings.Cut(credential, "/")
	a.date, rest, _ = strings.Cut(rest, "/")
	a.region, rest, _ = strings.Cut(rest, "/")
	a.service, term, _ = strings.Cut(rest, "/")
	if a.accessKeyID == "" || len(a.date) != len("20060102") || a.region == "" || a.service == "" || term == "" {
		return a, incomplete("Credential must have the form <access key id>/<YYYYMMDD>/<region>/%s/%s.", service, terminator)
	}
	if term != terminator {
		return a, incomplete("Credential should be scoped with a valid terminator: '%s', not '%.32s'.", terminator, term)
	}
	return a, nil
}

// signerResult extracts the signed headers list and the signature from an
// Authorization header written by the v4 signer.
func signerResult(h string) (signedHeaders, signature string, ok bool) {
	_, rest, ok := strings.Cut(h, ", SignedHeaders=")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ", Signature=")
}
