package controlapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/lambent/lambent/internal/auth"
	"github.com/lambent/lambent/internal/code"
	"github.com/lambent/lambent/internal/function"
	"github.com/lambent/lambent/internal/invoke"
	"github.com/lambent/lambent/internal/layer"
)

// apiError is an error as Lambda returns it: a status, a type in X-Amzn-ErrorType and a body
// {"Type":"User","message":...}.
type apiError struct {
	Status  int
	Type    string
	Message string
	Extra   map[string]string // more body fields, e.g. Reason
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errorf(status int, typ, msg string) *apiError {
	return &apiError{Status: status, Type: typ, Message: msg}
}

// toAPIError maps domain errors to Lambda's error types.
func toAPIError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, function.ErrNotFound):
		return errorf(404, "ResourceNotFoundException", err.Error())
	case errors.Is(err, function.ErrOtherAccount):
		return errorf(403, "AccessDeniedException", err.Error())
	case errors.Is(err, function.ErrValidation):
		return errorf(400, "ValidationException", err.Error())
	case errors.Is(err, function.ErrExists):
		return errorf(409, "ResourceConflictException", err.Error())
	case errors.Is(err, function.ErrPrecondition):
		return errorf(412, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	case errors.Is(err, function.ErrInvalid):
		return errorf(400, "InvalidParameterValueException", err.Error())
	case errors.Is(err, layer.ErrNotFound):
		return errorf(404, "ResourceNotFoundException", "The resource you requested does not exist.")
	case errors.Is(err, layer.ErrValidation):
		return errorf(400, "ValidationException", err.Error())
	case errors.Is(err, layer.ErrInvalid):
		return errorf(400, "InvalidParameterValueException", err.Error())
	case errors.Is(err, code.ErrTooLarge):
		return errorf(400, "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes")
	case errors.Is(err, code.ErrCorrupt), errors.Is(err, code.ErrUnsafe):
		return errorf(400, "InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again. ("+err.Error()+")")
	case errors.Is(err, invoke.ErrThrottled):
		return &apiError{Status: 429, Type: "TooManyRequestsException", Message: "Rate Exceeded.",
			Extra: map[string]string{"Reason": "ConcurrentInvocationLimitExceeded"}}
	case errors.Is(err, invoke.ErrNotReady):
		return errorf(409, "ResourceConflictException", "The operation cannot be performed at this time. "+err.Error())
	case errors.Is(err, auth.ErrMissingAuth):
		return errorf(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
	case errors.Is(err, auth.ErrIncomplete):
		return errorf(400, "IncompleteSignatureException", err.Error())
	case errors.Is(err, auth.ErrUnknownKey):
		return errorf(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
	case errors.Is(err, auth.ErrBadSignature):
		return errorf(403, "InvalidSignatureException", err.Error())
	case errors.Is(err, auth.ErrExpired):
		return errorf(403, "InvalidSignatureException", err.Error())
	}
	return errorf(500, "ServiceException", "An internal error occurred: "+err.Error())
}

// upperMessage lists the errors whose body carries the message as "Message"; every other error
// carries it as "message". Lambda's API model names the member so, per error type, and clients
// (botocore, the SDKs' modeled errors) read the field by that name.
var upperMessage = map[string]bool{
	"ResourceNotFoundException": true, "ServiceException": true, "InvalidZipFileException": true,
	"InvalidRuntimeException": true, "ResourceInUseException": true, "CodeVerificationFailedException": true,
}

func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	key := "message"
	if upperMessage[ae.Type] {
		key = "Message"
	}
	body := map[string]string{"Type": "User", key: ae.Message}
	if ae.Status >= 500 {
		body["Type"] = "Service"
	}
	for k, v := range ae.Extra {
		body[k] = v
	}
	data, _ := json.Marshal(body)
	h := w.Header()
	h.Set("X-Amzn-ErrorType", ae.Type)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(ae.Status)
	w.Write(data)
}
