package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxCachedRegions bounds how many regions per key get a signer that caches
// the derived signing key. The v4 signer's cache never evicts, and the region
// comes from the request before the signature is checked, so without a bound
// anyone who knows an access key id could grow it without limit. Requests
// scoped to further regions are verified with a throwaway signer (four more
// HMACs, about a microsecond).
const maxCachedRegions = 16

// Verifier checks SigV4 signatures of Lambda API requests against a fixed
// set of keys. It is safe for concurrent use.
type Verifier struct {
	keys map[string]*key // by access key id
	now  func() time.Time
}

type key struct {
	creds    aws.Credentials
	signers  sync.Map // region → *v4.Signer, each caching its derived key
	nsigners atomic.Int32
}

// signer returns the signer to use for requests scoped to region.
func (k *key) signer(region string) *v4.Signer {
	if s, ok := k.signers.Load(region); ok {
		return s.(*v4.Signer)
	}
	if k.nsigners.Add(1) > maxCachedRegions {
		k.nsigners.Add(-1)
		return v4.NewSigner()
	}
	// Clone: region points into the request's Authorization header.
	s, loaded := k.signers.LoadOrStore(strings.Clone(region), v4.NewSigner())
	if loaded {
		k.nsigners.Add(-1)
	}
	return s.(*v4.Signer)
}

// NewVerifier returns a Verifier that accepts requests signed with any of
// keys. A later key with the same access key id replaces an earlier one.
func NewVerifier(keys ...Credentials) *Verifier {
	v := &Verifier{keys: make(map[string]*key, len(keys)), now: time.Now}
	for _, c := range keys {
		v.keys[c.AccessKeyID] = &key{creds: aws.Credentials{
			AccessKeyID:     c.AccessKeyID,
			SecretAccessKey: c.SecretAccessKey,
		}}
	}
	return v
}

// Verify checks r's SigV4 Authorization header (algorithm AWS4-HMAC-SHA256,
// service "lambda", any region) against body, the whole request body, which
// the caller has already read. It returns nil if r is signed by one of the
// Verifier's keys within [MaxSkew] of now, and otherwise an error that
// matches one of the sentinel errors of this package and whose text is
// AWS's message for it.
//
// The expected signature is computed by the AWS SDK for Go's v4 signer over
// a copy of r that carries only the headers the client signed. Requests that
// signer cannot reproduce fail with [ErrBadSignature] even when the client
// signed them correctly:
//
//   - a signed User-Agent, X-Amzn-Trace-Id, Expect or Transfer-Encoding
//     header (the signer never signs these; current AWS SDKs and the AWS CLI
//     don't either, but the AWS SDK for Java 1.x signs User-Agent);
//   - a signed content-length of 0 (the signer signs Content-Length only
//     when it is positive), or an unsigned one on a request with a body;
//   - no X-Amz-Date header, or an unsigned one (the Date header is not
//     supported);
//   - a path that the client normalised before signing (dot segments,
//     repeated slashes): the signer, like the Go SDK, signs the path as sent.
//
// Presigned URLs (signature in the query string) and chunked, streaming or
// unsigned payloads (X-Amz-Content-Sha256 other than the body's hash) are
// not supported. X-Amz-Security-Token is verified like any signed header;
// the token itself is not checked, since the server issues no session
// tokens: the key is found by its access key id alone. Behind a proxy that
// terminates TLS, r.Host must be the host the client connected to.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	authz := r.Header["Authorization"]
	if len(authz) == 0 || authz[0] == "" {
		return errMissingAuth
	}
	if len(authz) > 1 {
		return incomplete("Authorization header must be sent only once.")
	}
	a, err := parseAuthorization(authz[0])
	if err != nil {
		return err
	}

	dates := r.Header["X-Amz-Date"]
	if len(dates) == 0 {
		return incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	amzDate := dates[0]
	t, err := time.Parse(amzDateFormat, amzDate)
	if len(dates) > 1 || len(amzDate) != len(amzDateFormat) || err != nil {
		return incomplete("X-Amz-Date must be a single date in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'), not '%.32s'.", amzDate)
	}
	now := v.now().UTC()
	if earliest := now.Add(-MaxSkew); t.Before(earliest) {
		return &sigError{ErrExpired, "Signature expired: " + amzDate + " is now earlier than " +
			earliest.Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " - 15 min.)"}
	}
	if latest := now.Add(MaxSkew); t.After(latest) {
		return &sigError{ErrExpired, "Signature not yet current: " + amzDate + " is still later than " +
			latest.Format(amzDateFormat) + " (" + now.Format(amzDateFormat) + " + 15 min.)"}
	}
	if a.date != amzDate[:len(a.date)] {
		return badSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.date, amzDate[:len(a.date)], amzDate)
	}
	if a.service != service {
		return badSignature("Credential should be scoped to correct service: '%s'.", service)
	}

	k := v.keys[a.accessKeyID]
	if k == nil {
		return ErrUnknownKey
	}

	sum := sha256.Sum256(body)
	var payloadHash [2 * sha256.Size]byte
	hex.Encode(payloadHash[:], sum[:])
	if h := r.Header["X-Amz-Content-Sha256"]; len(h) > 0 && (len(h) > 1 || h[0] != string(payloadHash[:])) {
		return &sigError{ErrBadSignature, "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	if r.URL.RawQuery != "" {
		// The signer, like the handlers, drops query parameters that do
		// not parse; refuse them rather than leave them unsigned.
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			return ErrBadSignature
		}
	}

	// Rebuild r with only what the client signed. The signer adds host
	// (from Host), x-amz-date (from the signing time) and content-length
	// (from ContentLength, when positive) itself.
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	signed := &sc.req
	*signed = http.Request{Method: r.Method, URL: &sc.url, Host: r.Host, Header: sc.header}
	sc.url = url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if r.TLS != nil {
		sc.url.Scheme = "https"
	}
	for names := a.signedHeaders; names != ""; {
		var name string
		name, names, _ = strings.Cut(names, ";")
		switch name {
		case "host", "x-amz-date":
		case "authorization":
			// Cannot be signed. Not copied either: the signer overwrites
			// the first value in place, which would be r's.
			return ErrBadSignature
		case "content-length":
			signed.ContentLength = r.ContentLength
		default:
			if ck, vs := lookupHeader(r.Header, name); ck != "" {
				sc.header[ck] = vs[:len(vs):len(vs)] // the signer may append
			}
		}
	}
	err = k.signer(a.region).SignHTTP(r.Context(), k.creds, signed, string(payloadHash[:]), service, a.region, t)
	if err != nil { // it never fails today
		return ErrBadSignature
	}

	gotHeaders, want, ok := signerResult(sc.header.Get("Authorization"))
	if !ok || gotHeaders != a.signedHeaders {
		// The client signed a header list that the signer cannot
		// reproduce (see above), or omitted one it requires.
		return ErrBadSignature
	}
	var wantSig, gotSig [2 * sha256.Size]byte
	if len(want) != len(wantSig) || len(a.signature) != len(gotSig) {
		return ErrBadSignature
	}
	copy(wantSig[:], want)
	copy(gotSig[:], a.signature)
	if !hmac.Equal(wantSig[:], gotSig[:]) {
		return ErrBadSignature
	}
	return nil
}

// lookupHeader returns the key and values of the header named
// (case-insensitively) name in h, without allocating.
func lookupHeader(h http.Header, name string) (string, []string) {
	for k, vs := range h {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return k, vs
		}
	}
	return "", nil
}

// scratch is the memory of the request Verify rebuilds for the signer.
type scratch struct {
	req    http.Request
	url    url.URL
	header http.Header
}

var scratchPool = sync.Pool{New: func() any { return &scratch{header: make(http.Header, 12)} }}

func (sc *scratch) release() {
	// Drop references to the caller's request before pooling.
	sc.req = http.Request{}
	sc.url = url.URL{}
	clear(sc.header)
	scratchPool.Put(sc)
}
