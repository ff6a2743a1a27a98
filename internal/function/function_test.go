package function

import (
	"errors"
	"strings"
	"testing"
)

var arns = ARNs{Region: "us-east-1", AccountID: "000000000000"}

var parseTests = []struct {
	in              string
	name, qualifier string
	err             error
}{
	{"fn", "fn", "", nil},
	{"fn:$LATEST", "fn", "$LATEST", nil},
	{"fn:prod", "fn", "prod", nil},
	{"my_Fn-1", "my_Fn-1", "", nil},
	{"arn:aws:lambda:us-east-1:000000000000:function:fn", "fn", "", nil},
	{"arn:aws:lambda:us-east-1:000000000000:function:fn:7", "fn", "7", nil},
	{"000000000000:function:fn", "fn", "", nil},
	{"000000000000:function:fn:$LATEST", "fn", "$LATEST", nil},
	{"arn:aws:lambda:eu-west-1:000000000000:function:fn", "", "", ErrNotFound},
	{"arn:aws:lambda:us-east-1:111111111111:function:fn", "", "", ErrOtherAccount},
	{"111111111111:function:fn", "", "", ErrOtherAccount},
	{"", "", "", ErrValidation},
	{"fn!", "", "", ErrValidation},
	{"invalid:function:name", "", "", ErrValidation},
	{"fn:a:b", "", "", ErrValidation},
	{"fn:", "", "", ErrValidation},
	{"fn:$latest", "", "", ErrValidation},
	{"arn:aws:lambda:us-east-1:000000000000:function:fn:1:2", "", "", ErrValidation},
	{strings.Repeat("a", 64), strings.Repeat("a", 64), "", nil},
	{strings.Repeat("a", 65), "", "", ErrInvalid},
}

func TestParseName(t *testing.T) {
	for _, tt := range parseTests {
		name, qualifier, err := arns.ParseName(tt.in)
		if name != tt.name || qualifier != tt.qualifier || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q, %v", tt.in, name, qualifier, err, tt.name, tt.qualifier, tt.err)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, qualifier, err := arns.ParseName(s)
		if err != nil {
			if name != "" || qualifier != "" || err.Error() == "" {
				t.Fatalf("ParseName(%q) = %q, %q, %v: an error with a result or without a message", s, name, qualifier, err)
			}
			return
		}
		if !nameRE.MatchString(name) || (qualifier != "" && !qualifierRE.MatchString(qualifier)) {
			t.Fatalf("ParseName(%q) accepted name %q, qualifier %q", s, name, qualifier)
		}
		// A parsed name names the same function as its ARN.
		n2, q2, err := arns.ParseName(arns.Function(name))
		if err != nil || n2 != name || q2 != "" {
			t.Fatalf("ParseName(ARN of %q) = %q, %q, %v", name, n2, q2, err)
		}
	})
}

func TestRevisionID(t *testing.T) {
	a, b, c := &Function{Name: "fn", Revision: 1}, &Function{Name: "fn", Revision: 2}, &Function{Name: "other", Revision: 1}
	ids := map[string]bool{a.RevisionID(): true, b.RevisionID(): true, c.RevisionID(): true}
	if len(ids) != 3 {
		t.Errorf("RevisionIDs should differ by name and revision: %v", ids)
	}
	if id := a.RevisionID(); len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 || id != (&Function{Name: "fn", Revision: 1}).RevisionID() {
		t.Errorf("RevisionID %q should be a stable UUID v4 shape", id)
	}
}

func TestLayers(t *testing.T) {
	base := &Function{Name: "fn", CodeDigest: "c", UnzippedSize: 100}
	one := base.Clone()
	one.Layers = []LayerRef{{Arn: "arn:aws:lambda:us-east-1:000000000000:layer:a:1", CodeSize: 10, Digest: "da", UnzippedSize: 50}}
	two := one.Clone()
	two.Layers = append(two.Layers, LayerRef{Arn: "arn:aws:lambda:us-east-1:000000000000:layer:b:1", Digest: "db", UnzippedSize: 60})
	swapped := two.Clone()
	swapped.Layers[0], swapped.Layers[1] = swapped.Layers[1], swapped.Layers[0]
	if one.Layers[0].Digest != "da" || len(one.Layers) != 1 {
		t.Fatalf("Clone shares Layers: %+v", one.Layers)
	}
	keys := map[string]bool{}
	for _, f := range []*Function{base, one, two, swapped} {
		keys[f.EnvironmentKey()] = true
	}
	if len(keys) != 4 {
		t.Errorf("EnvironmentKey should change with the layers and their order: %v", keys)
	}
	if got := swapped.LayerDigests(); len(got) != 2 || got[0] != "db" || got[1] != "da" {
		t.Errorf("LayerDigests = %v, want [db da]", got)
	}
	if base.LayerDigests() != nil {
		t.Errorf("LayerDigests without layers = %v, want nil", base.LayerDigests())
	}
	if err := two.CheckCodeSize(210); err != nil {
		t.Errorf("CheckCodeSize at the limit: %v", err)
	}
	err := two.CheckCodeSize(209)
	if want := "Function code combined with layers exceeds the maximum allowed size of 209 bytes. The actual size is 210 bytes."; err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckCodeSize over the limit = %v, want %s", err, want)
	}
}
