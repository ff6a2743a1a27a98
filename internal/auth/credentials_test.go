package auth

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadOrCreateEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Credentials
		wantErr string // a substring; "" for no error
	}{
		{
			name: "both set",
			env:  map[string]string{EnvAccessKeyID: "AKIDFROMENV", EnvSecretAccessKey: "secret-from-env"},
			want: Credentials{AccessKeyID: "AKIDFROMENV", SecretAccessKey: "secret-from-env"},
		},
		{
			name:    "only access key id",
			env:     map[string]string{EnvAccessKeyID: "AKIDFROMENV"},
			wantErr: EnvSecretAccessKey + " is not",
		},
		{
			name:    "only secret",
			env:     map[string]string{EnvSecretAccessKey: "secret-from-env"},
			wantErr: EnvAccessKeyID + " is not",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// A file that must lose to the environment, or not be used.
			if _, _, err := LoadOrCreate(dir, env(nil)); err != nil {
				t.Fatal(err)
			}
			got, created, err := LoadOrCreate(dir, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadOrCreate error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || created {
				t.Errorf("LoadOrCreate = %+v, %v; want %+v, false", got, created, tt.want)
			}
		})
	}
}

func TestLoadOrCreateGenerates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	first, created, err := LoadOrCreate(dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first call: created = false, want true")
	}
	if !regexp.MustCompile(`^LKIA[A-Z2-7]{16}$`).MatchString(first.AccessKeyID) {
		t.Errorf("access key id %q is not LKIA and 16 base32 characters", first.AccessKeyID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`).MatchString(first.SecretAccessKey) {
		t.Errorf("secret %q is not 40 base64 characters", first.SecretAccessKey)
	}

	path := filepath.Join(dir, CredentialsFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %#o, want 0600", path, perm)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data directory holds %d files, want only %s", len(entries), CredentialsFile)
	}

	second, created, err := LoadOrCreate(dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if created || second != first {
		t.Errorf("second call = %+v, %v; want %+v, false", second, created, first)
	}

	other, _, err := LoadOrCreate(t.TempDir(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if other.AccessKeyID == first.AccessKeyID || other.SecretAccessKey == first.SecretAccessKey {
		t.Errorf("two generated keys share a part: %+v and %+v", first, other)
	}
}

func TestLoadOrCreateBadFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"readable by others", `{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}`, 0o644, "mode"},
		{"not JSON", `AccessKeyId=A`, 0o600, "credentials.json"},
		{"no secret", `{"Version":1,"AccessKeyId":"A"}`, 0o600, "must both be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, CredentialsFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // despite the umask
				t.Fatal(err)
			}
			_, _, err := LoadOrCreate(dir, env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadOrCreate error = %v, want one containing %q", err, tt.wantErr)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.content {
				t.Errorf("LoadOrCreate changed a bad credentials file: %q, %v", got, err)
			}
		})
	}
}

// TestLoadOrCreateVerifies checks that a generated key signs requests that
// verify: its secret survives the file and the signer.
func TestLoadOrCreateVerifies(t *testing.T) {
	c, _, err := LoadOrCreate(t.TempDir(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	srv, outcomes := newServer(t, NewVerifier(c), nil)
	resp, err := srv.Client().Do(rawRequest{sign: true, key: c, body: `{}`}.build(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := only(t, outcomes).err; got != nil {
		t.Errorf("Verify = %v, want nil", got)
	}
}
