// Package layer holds Lambent's model of Lambda layers: a layer version as stored, the checks a
// new version must pass, the ARNs that name layers, and the Store that keeps versions in a
// state.Bucket, numbered 1, 2, … per layer name and never reused. It does not hold the layers'
// zips (the code store does), merge layers into /opt (package code does) or know Lambda's JSON
// shapes (package controlapi does).
package layer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel error classes; the API edge maps them to AWS error types.
var (
	// ErrNotFound: no such layer version (AWS: ResourceNotFoundException).
	ErrNotFound = errors.New("layer version not found")
	// ErrValidation: a value outside the API model's constraints (AWS: ValidationException).
	ErrValidation = errors.New("validation error")
	// ErrInvalid: a value Lambda itself refuses (AWS: InvalidParameterValueException).
	ErrInvalid = errors.New("invalid parameter value")
)

// classError is an error of one of the sentinel classes whose text is Lambda's message.
type classError struct {
	class error
	msg   string
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }

func classed(class error, format string, a ...any) error {
	return &classError{class: class, msg: fmt.Sprintf(format, a...)}
}

// Version is one published layer version as stored in the bucket.
type Version struct {
	Name        string `json:"name"`
	Number      int64  `json:"version"`
	Description string `json:"description"`
	LicenseInfo string `json:"licenseInfo,omitempty"`
	// The compatibility lists are nil when the publisher gave none, which Lambda shows
	// differently from an empty list (the field is left out).
	CompatibleRuntimes      []string  `json:"compatibleRuntimes"`
	CompatibleArchitectures []string  `json:"compatibleArchitectures"`
	Created                 time.Time `json:"created"`

	CodeSha256   string `json:"codeSha256"`   // base64, as Lambda shows it
	Digest       string `json:"digest"`       // hex, names the blob and the extracted dir
	CodeSize     int64  `json:"codeSize"`     // zip bytes
	UnzippedSize int64  `json:"unzippedSize"` // extracted bytes, for the function size limit
}

// Limits of Lambda's API model and of Lambda itself.
const (
	// MaxPerFunction is how many layers a function may use.
	MaxPerFunction = 5
	// MaxVersionARNLength bounds each layer version ARN in a function's Layers.
	MaxVersionARNLength = 2048
	// VersionARNPattern is the LayerVersionArn pattern Lambda's messages quote.
	VersionARNPattern = `(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)`

	maxNameLength        = 140
	maxDescription       = 256
	maxLicenseInfo       = 512
	maxRuntimes          = 15
	maxArchitectures     = 2
	minVersionNumber     = 1
	namePattern          = `(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+`
	architectureEnum     = "[x86_64, arm64]"
	architectureEnumText = "Member must satisfy constraint: [Member must satisfy enum value set: " + architectureEnum + ", Member must not be null]"
)

var (
	nameRE       = regexp.MustCompile(`^(?:arn:[a-zA-Z0-9-]+:lambda:([a-zA-Z0-9-]+):(\d{12}):layer:([a-zA-Z0-9_-]+)|([a-zA-Z0-9_-]+))$`)
	versionARNRE = regexp.MustCompile(`^arn:(?:aws[a-zA-Z-]*)?:lambda:((?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):(\d{12}):layer:([a-zA-Z0-9_-]+):([0-9]+)$`)
	awsLayerRE   = regexp.MustCompile(`^arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9_-]+$`)
)

// Runtimes is the Runtime enum of Lambda's API model, in the order Lambda's messages quote it:
// the values CompatibleRuntime filters and CompatibleRuntimes lists may hold, deprecated
// runtimes included.
var Runtimes = []string{
	"ruby3.5", "ruby2.6", "dotnetcore1.0", "python3.7", "nodejs8.10", "nasa", "ruby2.7",
	"python2.7-greengrass", "dotnetcore2.0", "python3.8", "java21", "dotnet6", "dotnetcore2.1",
	"python3.9", "java11", "nodejs6.10", "provided", "dotnetcore3.1", "dotnet8", "java25",
	"java17", "nodejs", "nodejs4.3", "java8.al2", "go1.x", "dotnet10", "nodejs20.x", "go1.9",
	"byol", "nodejs10.x", "provided.al2023", "nodejs22.x", "python3.10", "java8", "nodejs12.x",
	"python3.11", "nodejs24.x", "nodejs8.x", "python3.12", "nodejs14.x", "nodejs8.9",
	"nodejs26.x", "python3.13", "python3.14", "nodejs16.x", "python3.15", "provided.al2",
	"nodejs4.3-edge", "nodejs18.x", "ruby3.2", "python3.4", "ruby3.3", "ruby3.4", "ruby2.5",
	"python3.6", "python2.7",
}

// publishRuntimes are the runtimes PublishLayerVersion's message names when it refuses one
// (the supported ones; it accepts every value of Runtimes).
const publishRuntimes = "[nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]"

// Validate checks a version about to be published the way PublishLayerVersion does, with
// Lambda's messages. Name is checked by ParseName.
func (v *Version) Validate() error {
	var errs violations
	if len(v.Description) > maxDescription {
		errs.add(v.Description, "description", fmt.Sprintf("Member must have length less than or equal to %d", maxDescription))
	}
	switch {
	case len(v.CompatibleRuntimes) > maxRuntimes:
		errs.add(list(v.CompatibleRuntimes), "compatibleRuntimes", fmt.Sprintf("Member must have length less than or equal to %d", maxRuntimes))
	case slices.ContainsFunc(v.CompatibleRuntimes, func(r string) bool { return !slices.Contains(Runtimes, r) }):
		errs.add(list(v.CompatibleRuntimes), "compatibleRuntimes", "Member must satisfy enum value set: "+publishRuntimes)
	}
	if len(v.LicenseInfo) > maxLicenseInfo {
		errs.add(v.LicenseInfo, "licenseInfo", fmt.Sprintf("Member must have length less than or equal to %d", maxLicenseInfo))
	}
	switch {
	case len(v.CompatibleArchitectures) > maxArchitectures:
		errs.add(list(v.CompatibleArchitectures), "compatibleArchitectures", fmt.Sprintf("Member must have length less than or equal to %d", maxArchitectures))
	case slices.ContainsFunc(v.CompatibleArchitectures, func(a string) bool { return !validArch(a) }):
		errs.add(list(v.CompatibleArchitectures), "compatibleArchitectures", architectureEnumText)
	}
	return errs.err()
}

// CheckFilters checks the CompatibleRuntime and CompatibleArchitecture filters of ListLayers
// and ListLayerVersions (empty: no filter), and MaxItems.
func CheckFilters(runtime, arch string, maxItems *int) error {
	var errs violations
	if runtime != "" && !slices.Contains(Runtimes, runtime) {
		errs.add(runtime, "compatibleRuntime", "Member must satisfy enum value set: "+list(Runtimes))
	}
	if maxItems != nil && *maxItems < 1 {
		errs.add(*maxItems, "maxItems", "Member must have value greater than or equal to 1")
	}
	if maxItems != nil && *maxItems > 50 {
		errs.add(*maxItems, "maxItems", "Member must have value less than or equal to 50")
	}
	if arch != "" && !validArch(arch) {
		errs.add(arch, "compatibleArchitecture", "Member must satisfy enum value set: "+architectureEnum)
	}
	return errs.err()
}

// Matches reports whether v declares compatibility with runtime and arch (empty: any).
func (v *Version) Matches(runtime, arch string) bool {
	return (runtime == "" || slices.Contains(v.CompatibleRuntimes, runtime)) &&
		(arch == "" || slices.Contains(v.CompatibleArchitectures, arch))
}

func validArch(a string) bool { return a == "x86_64" || a == "arm64" }

// violations collects the API model's constraint violations of one request, which Lambda
// reports together: "2 validation errors detected: Value … at …; Value … at …".
type violations []string

func (v *violations) add(value any, member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

func (v violations) err() error {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return classed(ErrValidation, "1 validation error detected: %s", v[0])
	}
	return classed(ErrValidation, "%d validation errors detected: %s", len(v), strings.Join(v, "; "))
}

// list formats values as Lambda's messages quote lists: [a, b].
func list(values []string) string { return "[" + strings.Join(values, ", ") + "]" }

// ARNs is the account and region that name layers.
type ARNs struct {
	Region    string
	AccountID string
}

// Layer returns the ARN of the layer name.
func (a ARNs) Layer(name string) string {
	return "arn:aws:lambda:" + a.Region + ":" + a.AccountID + ":layer:" + name
}

// Version returns the ARN of version n of the layer name.
func (a ARNs) Version(name string, n int64) string {
	return a.Layer(name) + ":" + strconv.FormatInt(n, 10)
}

// Ref is what a layer name or ARN names.
type Ref struct {
	Region, AccountID, Name string
	Version                 int64 // version ARNs only; 0 if out of range
}

// ParseName resolves the LayerName forms Lambda accepts: a name or a layer ARN. A name is in
// a's account and region; an ARN may name a layer of another, which the caller decides about.
func (a ARNs) ParseName(s string) (Ref, error) {
	if len(s) > maxNameLength {
		return Ref{}, classed(ErrValidation, "1 validation error detected: Value '%s' at 'layerName' failed to satisfy constraint: Member must have length less than or equal to %d", s, maxNameLength)
	}
	m := nameRE.FindStringSubmatch(s)
	if m == nil {
		return Ref{}, classed(ErrValidation, "1 validation error detected: Value '%s' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", s, namePattern)
	}
	if m[4] != "" {
		return Ref{Region: a.Region, AccountID: a.AccountID, Name: m[4]}, nil
	}
	return Ref{Region: m[1], AccountID: m[2], Name: m[3]}, nil
}

// ParseVersionARN parses a layer version ARN as GetLayerVersionByArn and a function's Layers
// take it. ok is false for a string outside the pattern; an AWS-managed layer's ARN
// (…:awslayer:NAME) is within it but names nothing Lambent holds, so it gives a Ref with no Name.
func ParseVersionARN(s string) (ref Ref, ok bool) {
	if awsLayerRE.MatchString(s) {
		return Ref{}, true
	}
	m := versionARNRE.FindStringSubmatch(s)
	if m == nil {
		return Ref{}, false
	}
	n, err := strconv.ParseInt(m[4], 10, 64)
	if err != nil {
		n = 0 // beyond any version ever published
	}
	return Ref{Region: m[1], AccountID: m[2], Name: m[3], Version: n}, true
}

// Local reports whether ref names a layer of a's account and region.
func (a ARNs) Local(ref Ref) bool {
	return ref.Name != "" && ref.Region == a.Region && ref.AccountID == a.AccountID
}

// CheckVersionNumber refuses version numbers below 1, as GetLayerVersion and
// DeleteLayerVersion do.
func CheckVersionNumber(n int64) error {
	if n < minVersionNumber {
		return classed(ErrInvalid, "Layer Version Cannot be less than 1")
	}
	return nil
}
