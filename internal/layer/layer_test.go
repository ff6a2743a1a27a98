package layer

import (
	"errors"
	"strings"
	"testing"
)

var arns = ARNs{Region: "us-east-1", AccountID: "000000000000"}

func TestParseName(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Ref
		err  error
	}{
		{"my-layer_1", Ref{"us-east-1", "000000000000", "my-layer_1", 0}, nil},
		{"arn:aws:lambda:us-east-1:000000000000:layer:lib", Ref{"us-east-1", "000000000000", "lib", 0}, nil},
		{"arn:aws:lambda:eu-west-1:111111111111:layer:lib", Ref{"eu-west-1", "111111111111", "lib", 0}, nil},
		{"arn:aws:lambda:us-east-1:000000000000:layer:lib:1", Ref{}, ErrValidation},
		{"lib.x", Ref{}, ErrValidation},
		{"", Ref{}, ErrValidation},
		{strings.Repeat("a", 140), Ref{"us-east-1", "000000000000", strings.Repeat("a", 140), 0}, nil},
		{strings.Repeat("a", 141), Ref{}, ErrValidation},
	} {
		got, err := arns.ParseName(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("ParseName(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseVersionARN(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Ref
		ok   bool
	}{
		{"arn:aws:lambda:us-east-1:000000000000:layer:lib:3", Ref{"us-east-1", "000000000000", "lib", 3}, true},
		{"arn:aws:lambda:us-gov-west-1:123456789012:layer:lib:1", Ref{"us-gov-west-1", "123456789012", "lib", 1}, true},
		{"arn:aws:lambda:us-east-1:000000000000:layer:lib:99999999999999999999", Ref{"us-east-1", "000000000000", "lib", 0}, true},
		{"arn:aws:lambda:::awslayer:AWSLambda-Python-AWS-SDK", Ref{}, true},
		{"arn:aws:lambda:us-east-1:000000000000:layer:lib", Ref{}, false},
		{"arn:aws:lambda:us-east-1:0000:layer:lib:1", Ref{}, false},
		{"lib:1", Ref{}, false},
	} {
		got, ok := ParseVersionARN(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseVersionARN(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if ref, _ := ParseVersionARN(arns.Version("lib", 7)); !arns.Local(ref) || ref.Name != "lib" || ref.Version != 7 {
		t.Errorf("ParseVersionARN(Version(lib, 7)) = %+v, want a local lib:7", ref)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		v    Version
		want string // "" for valid
	}{
		{Version{CompatibleRuntimes: []string{"python3.12", "python3.7", "provided"}, CompatibleArchitectures: []string{"x86_64", "arm64"}}, ""},
		{Version{CompatibleRuntimes: []string{}, CompatibleArchitectures: []string{}}, ""},
		{Version{CompatibleRuntimes: []string{"invalidruntime"}, CompatibleArchitectures: []string{"invalidarch"}},
			"2 validation errors detected: Value '[invalidruntime]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: " + publishRuntimes +
				"; Value '[invalidarch]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"},
		{Version{CompatibleArchitectures: []string{"x86_64", "arm64", "x86_64"}},
			"1 validation error detected: Value '[x86_64, arm64, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must have length less than or equal to 2"},
		{Version{Description: strings.Repeat("d", 257)},
			"1 validation error detected: Value '" + strings.Repeat("d", 257) + "' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256"},
	} {
		err := tt.v.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tt.v, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrValidation) {
			t.Errorf("Validate(%+v) = %v\nwant %s", tt.v, err, tt.want)
		}
	}
}

func TestCheckFilters(t *testing.T) {
	n0, n50 := 0, 50
	if err := CheckFilters("python3.12", "arm64", &n50); err != nil {
		t.Errorf("valid filters: %v", err)
	}
	err := CheckFilters("", "archdoesnotexist", nil)
	if want := "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]"; err == nil || err.Error() != want {
		t.Errorf("bad architecture: %v, want %s", err, want)
	}
	err = CheckFilters("runtimedoesnotexist", "", &n0)
	if err == nil || !strings.HasPrefix(err.Error(), "2 validation errors detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy constraint: Member must satisfy enum value set: [ruby3.5, ruby2.6,") ||
		!strings.HasSuffix(err.Error(), "; Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1") {
		t.Errorf("bad runtime and MaxItems: %v", err)
	}
}

func TestMatches(t *testing.T) {
	v := Version{CompatibleRuntimes: []string{"python3.12"}, CompatibleArchitectures: []string{"arm64"}}
	none := Version{}
	for _, tt := range []struct {
		v             *Version
		runtime, arch string
		want          bool
	}{
		{&v, "", "", true}, {&v, "python3.12", "", true}, {&v, "python3.12", "arm64", true},
		{&v, "nodejs20.x", "", false}, {&v, "", "x86_64", false},
		{&none, "", "", true}, {&none, "python3.12", "", false},
	} {
		if got := tt.v.Matches(tt.runtime, tt.arch); got != tt.want {
			t.Errorf("%+v.Matches(%q, %q) = %v, want %v", tt.v, tt.runtime, tt.arch, got, tt.want)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"lib", "arn:aws:lambda:us-east-1:000000000000:layer:lib", "arn:aws:lambda:us-east-1:000000000000:layer:lib:1", "a.b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := arns.ParseName(s)
		if err != nil {
			if ref != (Ref{}) || !errors.Is(err, ErrValidation) {
				t.Fatalf("ParseName(%q) = %+v, %v: a result with an error, or not a validation error", s, ref, err)
			}
			return
		}
		// A parsed name is a safe bucket key and names the same layer as its ARN.
		if ref.Name == "" || strings.ContainsAny(ref.Name, ".*>/ ") {
			t.Fatalf("ParseName(%q) accepted name %q", s, ref.Name)
		}
		a := ARNs{Region: ref.Region, AccountID: ref.AccountID}
		if len(a.Layer(ref.Name)) > maxNameLength {
			return // a long name has an ARN too long for the LayerName member, as on AWS
		}
		back, err := a.ParseName(a.Layer(ref.Name))
		if err != nil || back != ref {
			t.Fatalf("ParseName(Layer(%+v)) = %+v, %v", ref, back, err)
		}
	})
}

func FuzzParseVersionARN(f *testing.F) {
	for _, s := range []string{"arn:aws:lambda:us-east-1:000000000000:layer:lib:3", "arn:aws:lambda:::awslayer:x", "arn:aws:lambda:us-east-1:000000000000:layer:lib", "lib:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, ok := ParseVersionARN(s)
		if !ok || ref.Name == "" {
			if ref != (Ref{}) {
				t.Fatalf("ParseVersionARN(%q) = %+v, %v: a result without a name", s, ref, ok)
			}
			return
		}
		if strings.ContainsAny(ref.Name, ".*>/ ") || ref.Version < 0 {
			t.Fatalf("ParseVersionARN(%q) accepted %+v", s, ref)
		}
		if ref.Version > 0 {
			a := ARNs{Region: ref.Region, AccountID: ref.AccountID}
			if back, ok := ParseVersionARN(a.Version(ref.Name, ref.Version)); !ok || back != ref || !a.Local(back) {
				t.Fatalf("ParseVersionARN(Version(%+v)) = %+v, %v", ref, back, ok)
			}
		}
	})
}
