package function

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Limits on a configuration, AWS's defaults.
const (
	MinMemory, MaxMemory   = 128, 10240
	MinTimeout, MaxTimeout = 1, 900
	MinStorage, MaxStorage = 512, 10240
	DefaultMemory          = 128
	DefaultTimeout         = 3
	DefaultStorage         = 512
	maxEnvBytes            = 4096
	maxDescription         = 256
	maxTags                = 50
)

// KnownRuntimes are the runtime names Lambda's API accepts. Which of them a server can run
// is the server's to say (the provided ones always; managed ones where their interpreter is).
var KnownRuntimes = map[string]bool{}

// ProvidedRuntimes run the bootstrap the function's code brings.
var ProvidedRuntimes = []string{"provided", "provided.al2", "provided.al2023"}

func init() {
	for _, n := range strings.Fields(`nodejs nodejs4.3 nodejs6.10 nodejs8.10 nodejs10.x nodejs12.x nodejs14.x
		nodejs16.x nodejs18.x nodejs20.x nodejs22.x java8 java8.al2 java11 java17 java21 python2.7
		python3.6 python3.7 python3.8 python3.9 python3.10 python3.11 python3.12 python3.13
		dotnetcore1.0 dotnetcore2.0 dotnetcore2.1 dotnetcore3.1 dotnet6 dotnet8 nodejs4.3-edge go1.x
		ruby2.5 ruby2.7 ruby3.2 ruby3.3 provided provided.al2 provided.al2023`) {
		KnownRuntimes[n] = true
	}
}

var (
	roleRE    = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envKeyRE  = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
	handlerRE = regexp.MustCompile(`^[^\s]{0,128}$`)
	reserved  = map[string]bool{
		"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
		"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
		"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
		"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
		"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
		"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
	}
)

// invalid makes an ErrInvalid with Lambda's message.
func invalid(format string, a ...any) error { return classed(ErrInvalid, format, a...) }

// violates makes an ErrValidation: value breaks constraint of the API model's member.
func violates(value any, member, constraint string) error {
	return classed(ErrValidation, "1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

// Validate checks a configuration the way CreateFunction and UpdateFunctionConfiguration do.
// The messages and classes (ErrValidation for the API model's constraints, ErrInvalid for
// Lambda's own checks) are Lambda's.
func (f *Function) Validate() error {
	if len(f.Name) > maxNameLength && nameCharsRE.MatchString(f.Name) {
		return invalid("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to %d", f.Name, maxNameLength)
	}
	if !nameRE.MatchString(f.Name) {
		return badName(f.Name)
	}
	if !KnownRuntimes[f.Runtime] {
		return invalid("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: %s or be a valid ARN", f.Runtime, runtimeList())
	}
	if f.Handler == "" || !handlerRE.MatchString(f.Handler) {
		return violates(f.Handler, "handler", `Member must satisfy regular expression pattern: [^\s]+`)
	}
	if !roleRE.MatchString(f.Role) {
		return violates(f.Role, "role", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	if f.MemorySize < MinMemory || f.MemorySize > MaxMemory {
		return violates(f.MemorySize, "memorySize", "Member must have value "+rangeText(f.MemorySize, MinMemory, MaxMemory))
	}
	if f.Timeout < MinTimeout || f.Timeout > MaxTimeout {
		return violates(f.Timeout, "timeout", "Member must have value "+rangeText(f.Timeout, MinTimeout, MaxTimeout))
	}
	if f.EphemeralStorage < MinStorage || f.EphemeralStorage > MaxStorage {
		return violates(f.EphemeralStorage, "ephemeralStorage.size", "Member must have value "+rangeText(f.EphemeralStorage, MinStorage, MaxStorage))
	}
	if len(f.Description) > maxDescription {
		return violates(f.Description, "description", fmt.Sprintf("Member must have length less than or equal to %d", maxDescription))
	}
	if len(f.Architectures) > 1 {
		return violates(archList(f.Architectures), "architectures", "Member must have length less than or equal to 1")
	}
	if len(f.Architectures) != 1 || (f.Architectures[0] != "x86_64" && f.Architectures[0] != "arm64") {
		return violates(archList(f.Architectures), "architectures", "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]")
	}
	if len(f.Tags) > maxTags {
		return invalid("Number of tags exceeds resource tag limit.")
	}
	keys := make([]string, 0, len(f.Environment))
	for k := range f.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	size := 0
	for _, k := range keys {
		if !envKeyRE.MatchString(k) {
			return classed(ErrValidation, "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
		}
		if reserved[k] {
			return invalid("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", k)
		}
		size += len(k) + len(f.Environment[k])
	}
	if size > maxEnvBytes {
		measured, _ := json.Marshal(f.Environment)
		return invalid("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", measured)
	}
	return nil
}

// archList formats architectures as Lambda's messages quote them: [x86_64, arm64].
func archList(a []string) string { return "[" + strings.Join(a, ", ") + "]" }

func rangeText(v, lo, hi int) string {
	if v < lo {
		return fmt.Sprintf("greater than or equal to %d", lo)
	}
	return fmt.Sprintf("less than or equal to %d", hi)
}

func runtimeList() string {
	names := make([]string, 0, len(KnownRuntimes))
	for n := range KnownRuntimes {
		names = append(names, n)
	}
	sort.Strings(names)
	return "[" + strings.Join(names, ", ") + "]"
}
