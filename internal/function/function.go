// Package function holds Lambent's model of a Lambda function: its configuration as stored,
// the checks a configuration must pass, and the ARNs that name it. It does no I/O except through
// the Registry, which keeps functions in a state.Bucket and serves hot paths from memory.
package function

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Sentinel error classes; the API edge maps them to AWS error types.
var (
	ErrNotFound = errors.New("function not found")
	ErrExists   = errors.New("function already exists")
	// ErrInvalid: a value Lambda itself refuses (AWS: InvalidParameterValueException).
	ErrInvalid = errors.New("invalid parameter value")
	// ErrValidation: a value outside the API model's constraints, refused before Lambda sees
	// it (AWS: ValidationException): ranges, patterns, lengths, enums.
	ErrValidation   = errors.New("validation error")
	ErrPrecondition = errors.New("revision id does not match")
	ErrConflict     = errors.New("function is being updated")
	// ErrOtherAccount: an ARN names a function of another account (AWS: AccessDeniedException).
	ErrOtherAccount = errors.New("function belongs to another account")
)

// classError is an error of one of the sentinel classes whose text is Lambda's message.
type classError struct {
	class error
	msg   string
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }

// classed makes an error of class with Lambda's message.
func classed(class error, format string, a ...any) error {
	return &classError{class: class, msg: fmt.Sprintf(format, a...)}
}

// States and update statuses, as Lambda names them.
const (
	StatePending  = "Pending"
	StateActive   = "Active"
	StateFailed   = "Failed"
	UpdateOK      = "Successful"
	UpdateRunning = "InProgress"
	UpdateFailed  = "Failed"
	LatestVersion = "$LATEST"
)

// Function is one function's $LATEST configuration as stored in the bucket.
type Function struct {
	Name             string            `json:"name"`
	Runtime          string            `json:"runtime"`
	Handler          string            `json:"handler"`
	Role             string            `json:"role"`
	Description      string            `json:"description"`
	MemorySize       int               `json:"memorySize"`
	Timeout          int               `json:"timeout"`
	EphemeralStorage int               `json:"ephemeralStorage"`
	Architectures    []string          `json:"architectures"`
	Environment      map[string]string `json:"environment"`
	Tags             map[string]string `json:"tags"`

	CodeSha256   string `json:"codeSha256"`   // base64, as Lambda shows it
	CodeDigest   string `json:"codeDigest"`   // hex, names the blob and the extracted dir
	CodeSize     int64  `json:"codeSize"`     // zip bytes
	UnzippedSize int64  `json:"unzippedSize"` // extracted bytes

	// Layers are the layer versions the function uses, in order: their contents are merged
	// at /opt, later layers overwriting earlier ones. Lambda's responses show each one's ARN
	// and CodeSize; Digest names what the sandbox mounts.
	Layers []LayerRef `json:"layers,omitempty"`

	State                      string    `json:"state"`
	StateReason                string    `json:"stateReason,omitempty"`
	StateReasonCode            string    `json:"stateReasonCode,omitempty"`
	LastUpdateStatus           string    `json:"lastUpdateStatus,omitempty"`
	LastUpdateStatusReason     string    `json:"lastUpdateStatusReason,omitempty"`
	LastUpdateStatusReasonCode string    `json:"lastUpdateStatusReasonCode,omitempty"`
	LastModified               time.Time `json:"lastModified"`

	// Revision is the bucket revision this record was read at; not stored.
	Revision uint64 `json:"-"`
	// envKey caches EnvironmentKey for records in the Registry, which never change.
	envKey string
}

// LayerRef is one layer version a function uses, as it was when the function took it: a
// layer version deleted later stays usable by the functions that have it.
type LayerRef struct {
	Arn          string `json:"arn"`          // layer version ARN
	CodeSize     int64  `json:"codeSize"`     // zip bytes, as Lambda shows it
	Digest       string `json:"digest"`       // hex SHA-256 of the zip: its blob and extracted dir
	UnzippedSize int64  `json:"unzippedSize"` // extracted bytes, counted against the size limit
}

// LayerDigests returns the digests of the function's layers, in order: what
// code.Store.Layers merges into the directory mounted at /opt.
func (f *Function) LayerDigests() []string {
	if len(f.Layers) == 0 {
		return nil
	}
	out := make([]string, len(f.Layers))
	for i, l := range f.Layers {
		out[i] = l.Digest
	}
	return out
}

// CheckCodeSize refuses a function whose code and layers together unzip to more than max
// bytes, with Lambda's message.
func (f *Function) CheckCodeSize(max int64) error {
	total := f.UnzippedSize
	for _, l := range f.Layers {
		total += l.UnzippedSize
	}
	if total > max {
		return classed(ErrInvalid, "Function code combined with layers exceeds the maximum allowed size of %d bytes. The actual size is %d bytes.", max, total)
	}
	return nil
}

// RevisionID is Lambda's RevisionId for this record: a UUID-shaped name of its bucket revision.
func (f *Function) RevisionID() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", f.Name, f.Revision))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// EnvironmentKey identifies what an execution environment depends on: environments made for
// one key cannot serve another. Functions the Registry hands out have it computed already.
func (f *Function) EnvironmentKey() string {
	if f.envKey != "" {
		return f.envKey
	}
	return f.environmentKey()
}

func (f *Function) environmentKey() string {
	keys := make([]string, 0, len(f.Environment))
	for k := range f.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%d|%d|%d|%s|%s", f.CodeDigest, f.Runtime, f.Handler, f.MemorySize,
		f.Timeout, f.EphemeralStorage, strings.Join(f.Architectures, ","), strings.Join(f.LayerDigests(), ","))
	for _, k := range keys {
		fmt.Fprintf(&b, "|%s=%s", k, f.Environment[k])
	}
	return b.String()
}

// Clone returns a deep copy.
func (f *Function) Clone() *Function {
	c := *f
	c.envKey = "" // the copy is for changing
	c.Architectures = append([]string(nil), f.Architectures...)
	c.Layers = append([]LayerRef(nil), f.Layers...)
	c.Environment = cloneMap(f.Environment)
	c.Tags = cloneMap(f.Tags)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (f *Function) marshal() []byte {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err) // only strings, numbers and maps of strings
	}
	return b
}

// ARNs is the account and region that name functions.
type ARNs struct {
	Region    string
	AccountID string
}

// Function returns the unqualified ARN of name.
func (a ARNs) Function(name string) string {
	return "arn:aws:lambda:" + a.Region + ":" + a.AccountID + ":function:" + name
}

// ParseName resolves the FunctionName forms Lambda accepts: a name, a full ARN or a partial ARN
// (ACCOUNT:function:NAME), each with an optional :QUALIFIER.
func (a ARNs) ParseName(s string) (name, qualifier string, err error) {
	parts := strings.Split(s, ":")
	var rest []string // the parts after the name: none, or the qualifier
	switch {
	case len(parts) >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
		name, rest = parts[6], parts[7:]
		if len(rest) > 1 {
			return "", "", badName(s)
		}
		if parts[4] != a.AccountID {
			return "", "", classed(ErrOtherAccount, "User is not authorized to access function %s", s)
		}
		if parts[3] != a.Region {
			return "", "", classed(ErrNotFound, "Functions from '%s' are not reachable in this region ('%s')", parts[3], a.Region)
		}
	case len(parts) >= 3 && parts[1] == "function" && accountRE.MatchString(parts[0]):
		name, rest = parts[2], parts[3:]
		if len(rest) > 1 {
			return "", "", badName(s)
		}
		if parts[0] != a.AccountID {
			return "", "", classed(ErrOtherAccount, "User is not authorized to access function %s", s)
		}
	case len(parts) <= 2:
		name, rest = parts[0], parts[1:]
	default:
		return "", "", badName(s)
	}
	if len(rest) == 1 {
		qualifier = rest[0]
		if !qualifierRE.MatchString(qualifier) {
			return "", "", badName(s)
		}
	}
	if len(name) > maxNameLength && nameCharsRE.MatchString(name) {
		return "", "", classed(ErrInvalid, "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to %d", name, maxNameLength)
	}
	if !nameRE.MatchString(name) {
		return "", "", badName(s)
	}
	return name, qualifier, nil
}

func badName(s string) error {
	return classed(ErrValidation, "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", s, namePattern)
}

// namePattern is the FunctionName pattern of Lambda's API model, quoted in its messages.
const namePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

const maxNameLength = 64

var (
	nameRE      = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	nameCharsRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	accountRE   = regexp.MustCompile(`^\d{12}$`)
	qualifierRE = regexp.MustCompile(`^(\$LATEST|[a-zA-Z0-9_-]{1,128})$`)
)

func sortFunctions(fs []*Function) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
}
