package controlapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/lambent/lambent/internal/auth"
	"github.com/lambent/lambent/internal/code"
	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/invoke"
)

func TestWriteError(t *testing.T) {
	arns := function.ARNs{Region: "us-east-1", AccountID: "000000000000"}
	_, _, otherRegion := arns.ParseName("arn:aws:lambda:eu-west-1:000000000000:function:fn")
	_, _, otherAccount := arns.ParseName("111111111111:function:fn")
	invalid := (&function.Function{Name: "fn", Runtime: "cobol"}).Validate()
	validation := (&function.Function{Name: "fn", Runtime: "provided.al2023", Handler: "h", Role: "r"}).Validate()
	tests := []struct {
		err    error
		status int
		typ    string
		body   map[string]string
	}{
		// Lambda's model names the message "Message" for these errors and "message" for most.
		{fmt.Errorf("function %q: %w", "fn", function.ErrNotFound), 404, "ResourceNotFoundException",
			map[string]string{"Type": "User", "Message": `function "fn": function not found`}},
		{otherRegion, 404, "ResourceNotFoundException",
			map[string]string{"Type": "User", "Message": "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"}},
		{otherAccount, 403, "AccessDeniedException", map[string]string{"Type": "User", "message": otherAccount.Error()}},
		{fmt.Errorf("function %q: %w", "fn", function.ErrPrecondition), 412, "PreconditionFailedException",
			map[string]string{"Type": "User", "message": "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"}},
		{invalid, 400, "InvalidParameterValueException", map[string]string{"Type": "User", "message": invalid.Error()}},
		{validation, 400, "ValidationException", map[string]string{"Type": "User", "message": validation.Error()}},
		{fmt.Errorf("create: %w", function.ErrExists), 409, "ResourceConflictException", map[string]string{"Type": "User", "message": "create: function already exists"}},
		{fmt.Errorf("%w: entry ../x", code.ErrUnsafe), 400, "InvalidParameterValueException", nil},
		{fmt.Errorf("%w: bad", code.ErrCorrupt), 400, "InvalidParameterValueException", nil},
		{invoke.ErrThrottled, 429, "TooManyRequestsException",
			map[string]string{"Type": "User", "message": "Rate Exceeded.", "Reason": "ConcurrentInvocationLimitExceeded"}},
		{auth.ErrMissingAuth, 403, "MissingAuthenticationTokenException", map[string]string{"Type": "User", "message": "Missing Authentication Token"}},
		{auth.ErrUnknownKey, 403, "UnrecognizedClientException", nil},
		{auth.ErrBadSignature, 403, "InvalidSignatureException", nil},
		{errors.New("disk on fire"), 500, "ServiceException", map[string]string{"Type": "Service", "Message": "An internal error occurred: disk on fire"}},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		writeError(w, tt.err)
		if got := w.Header().Get("X-Amzn-ErrorType"); w.Code != tt.status || got != tt.typ {
			t.Errorf("%v: status %d, X-Amzn-ErrorType %q; want %d %s", tt.err, w.Code, got, tt.status, tt.typ)
		}
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Errorf("%v: body %q: %v", tt.err, w.Body, err)
			continue
		}
		if tt.body != nil && fmt.Sprint(body) != fmt.Sprint(tt.body) {
			t.Errorf("%v: body %v, want %v", tt.err, body, tt.body)
		}
	}
}
