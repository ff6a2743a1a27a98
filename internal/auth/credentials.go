package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Environment variables that set the server's key.
const (
	EnvAccessKeyID     = "LAMBENT_ACCESS_KEY_ID"
	EnvSecretAccessKey = "LAMBENT_SECRET_ACCESS_KEY"
)

// CredentialsFile is the name of the file in the data directory that holds
// the server's key.
const CredentialsFile = "credentials.json"

// Credentials is an access key: the id names it in requests, the secret
// signs them.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// credentialsFile is the JSON of CredentialsFile. It is the format of the
// AWS CLI's credential_process, so a profile with
// "credential_process = cat <data dir>/credentials.json" uses the key.
type credentialsFile struct {
	Version         int
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
}

// LoadOrCreate returns the key the server accepts: from the environment
// variables LAMBENT_ACCESS_KEY_ID and LAMBENT_SECRET_ACCESS_KEY (read with
// getenv) when both are set; otherwise from dataDir/credentials.json if it
// exists; otherwise it generates a key, writes it to that file with mode
// 0600, and reports created. Setting only one of the variables is an error,
// and so is a credentials file that group or others may access.
func LoadOrCreate(dataDir string, getenv func(string) string) (c Credentials, created bool, err error) {
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	switch {
	case id != "" && secret != "":
		return Credentials{AccessKeyID: id, SecretAccessKey: secret}, false, nil
	case id != "":
		return Credentials{}, false, fmt.Errorf("%s is set but %s is not: set both or neither", EnvAccessKeyID, EnvSecretAccessKey)
	case secret != "":
		return Credentials{}, false, fmt.Errorf("%s is set but %s is not: set both or neither", EnvSecretAccessKey, EnvAccessKeyID)
	}

	path := filepath.Join(dataDir, CredentialsFile)
	c, err = load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return c, false, err
	}
	c = generate()
	if err := write(path, c); err != nil {
		return Credentials{}, false, err
	}
	return c, true, nil
}

func load(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credentials{}, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Credentials{}, fmt.Errorf("credentials file %s has mode %#o: it holds a secret key, make it 0600", path, perm)
	}
	var cf credentialsFile
	if err := json.NewDecoder(f).Decode(&cf); err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if cf.AccessKeyID == "" || cf.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("credentials file %s: AccessKeyId and SecretAccessKey must both be set", path)
	}
	return Credentials{AccessKeyID: cf.AccessKeyID, SecretAccessKey: cf.SecretAccessKey}, nil
}

// generate returns a new random key shaped like an AWS one: a 20-character
// id of upper-case letters and digits 2-7 starting with "LKIA" (80 random
// bits), and a 40-character secret from the base64 alphabet (240 bits).
func generate() Credentials {
	const secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	secret := make([]byte, 40)
	rand.Read(secret) // never fails
	for i, b := range secret {
		secret[i] = secretChars[b&63] // 64 characters: masking is unbiased
	}
	// rand.Text is 26 characters of the standard base32 alphabet (A-Z, 2-7).
	return Credentials{AccessKeyID: "LKIA" + rand.Text()[:16], SecretAccessKey: string(secret)}
}

// write stores c at path atomically: a crash leaves the old file or the new
// one, never a partial key.
func write(path string, c Credentials) error {
	data, err := json.MarshalIndent(credentialsFile{Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	f, err := os.CreateTemp(dir, ".credentials-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}
