package function

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func valid() *Function {
	return &Function{
		Name: "fn", Runtime: "provided.al2023", Handler: "bootstrap", Role: "arn:aws:iam::000000000000:role/r",
		MemorySize: DefaultMemory, Timeout: DefaultTimeout, EphemeralStorage: DefaultStorage,
		Architectures: []string{"x86_64"},
	}
}

func tags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("tag", i)] = "v"
	}
	return m
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Function)
		err    error  // nil: valid
		msg    string // a part of Lambda's message
	}{
		{"valid", func(*Function) {}, nil, ""},
		{"limits low", func(f *Function) { f.MemorySize, f.Timeout, f.EphemeralStorage = 128, 1, 512 }, nil, ""},
		{"limits high", func(f *Function) { f.MemorySize, f.Timeout, f.EphemeralStorage = 10240, 900, 10240 }, nil, ""},
		{"arm64", func(f *Function) { f.Architectures = []string{"arm64"} }, nil, ""},
		{"env", func(f *Function) { f.Environment = map[string]string{"Ab_1": "x", "AWS_PROFILE": "p"} }, nil, ""},
		{"memory 127", func(f *Function) { f.MemorySize = 127 }, ErrValidation, "Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"},
		{"memory 10241", func(f *Function) { f.MemorySize = 10241 }, ErrValidation, "Member must have value less than or equal to 10240"},
		{"timeout 0", func(f *Function) { f.Timeout = 0 }, ErrValidation, "at 'timeout'"},
		{"timeout 901", func(f *Function) { f.Timeout = 901 }, ErrValidation, "less than or equal to 900"},
		{"storage 511", func(f *Function) { f.EphemeralStorage = 511 }, ErrValidation, "at 'ephemeralStorage.size'"},
		{"storage 10241", func(f *Function) { f.EphemeralStorage = 10241 }, ErrValidation, "at 'ephemeralStorage.size'"},
		{"runtime", func(f *Function) { f.Runtime = "cobol85" }, ErrInvalid, "Value cobol85 at 'runtime' failed to satisfy constraint"},
		{"role", func(f *Function) { f.Role = "r1" }, ErrValidation, `Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`},
		{"handler empty", func(f *Function) { f.Handler = "" }, ErrValidation, "at 'handler'"},
		{"handler space", func(f *Function) { f.Handler = "a b" }, ErrValidation, `[^\s]+`},
		{"handler too long", func(f *Function) { f.Handler = strings.Repeat("h", 129) }, ErrValidation, "at 'handler'"},
		{"description", func(f *Function) { f.Description = strings.Repeat("d", 257) }, ErrValidation, "at 'description'"},
		{"two architectures", func(f *Function) { f.Architectures = []string{"x86_64", "arm64"} }, ErrValidation, "Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"},
		{"upper-case architecture", func(f *Function) { f.Architectures = []string{"X86_64"} }, ErrValidation, "Value '[X86_64]' at 'architectures'"},
		{"no architecture", func(f *Function) { f.Architectures = nil }, ErrValidation, "at 'architectures'"},
		{"env key", func(f *Function) { f.Environment = map[string]string{"1A": "x"} }, ErrValidation, "Map keys must satisfy constraint"},
		{"env key of one letter", func(f *Function) { f.Environment = map[string]string{"A": "x"} }, ErrValidation, "Map keys must satisfy constraint"},
		{"reserved env", func(f *Function) { f.Environment = map[string]string{"AWS_REGION": "x"} }, ErrInvalid, "Reserved keys used in this request: AWS_REGION"},
		{"env over 4 KB", func(f *Function) { f.Environment = map[string]string{"BIG": strings.Repeat("x", 4096)} }, ErrInvalid, `exceeded the 4KB limit. String measured: {"BIG":"xxx`},
		{"50 tags", func(f *Function) { f.Tags = tags(50) }, nil, ""},
		{"51 tags", func(f *Function) { f.Tags = tags(51) }, ErrInvalid, "Number of tags exceeds resource tag limit."},
		{"name", func(f *Function) { f.Name = "a b" }, ErrValidation, "at 'functionName'"},
		{"name too long", func(f *Function) { f.Name = strings.Repeat("a", 65) }, ErrInvalid, "Member must have length less than or equal to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := valid()
			tt.change(f)
			err := f.Validate()
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want class %v", err, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q, want it to contain %q", err, tt.msg)
			}
			if errors.Is(err, ErrValidation) && !strings.HasPrefix(err.Error(), "1 validation error detected: ") {
				t.Errorf("a ValidationException's message starts with '1 validation error detected: ', got %q", err)
			}
		})
	}
}
