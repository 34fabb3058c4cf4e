package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guardkit/guard"
)

func TestKeygenStdout(t *testing.T) {
	for _, alg := range []guard.Algorithm{guard.ES256, guard.ES384, guard.ES512, guard.EdDSA, guard.RS256, guard.PS256, guard.HS256, guard.HS512} {
		t.Run(string(alg), func(t *testing.T) {
			r := cmd(t, "", "keygen", "--alg", string(alg))
			r.want(t, 0, []string{`"alg": "` + string(alg) + `"`}, nil)
			k, err := guard.ParseJWK("", []byte(r.stdout))
			if err != nil {
				t.Fatalf("guard.ParseJWK of the output: %v", err)
			}
			if k.Algorithm() != alg || !k.CanSign() {
				t.Errorf("key %v, CanSign %v", k, k.CanSign())
			}
			if k.Symmetric() {
				if len(k.KeyID()) != 16 {
					t.Errorf("HMAC kid %q, want 16 random characters", k.KeyID())
				}
				return
			}
			if k.KeyID() != k.Thumbprint() {
				t.Errorf("kid %q, want the thumbprint %q", k.KeyID(), k.Thumbprint())
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(r.stdout), &m)
			if m["d"] == nil {
				t.Error("the private JWK has no d")
			}
		})
	}
}

func TestKeygenPEMAndKid(t *testing.T) {
	r := cmd(t, "", "keygen", "--alg", "ES384", "--pem")
	r.want(t, 0, []string{"-----BEGIN PRIVATE KEY-----"}, nil)
	k, err := guard.ParsePEMKey(guard.ES384, []byte(r.stdout), "")
	if err != nil || !k.CanSign() {
		t.Fatalf("ParsePEMKey: %v", err)
	}
	r = cmd(t, "", "keygen", "--alg", "EdDSA", "--kid", "2026-12")
	r.want(t, 0, []string{`"kid": "2026-12"`}, nil)
	r = cmd(t, "", "keygen", "--alg", "RS256", "--bits", "3072")
	r.want(t, 0, nil, nil)
	if k, err := guard.ParseJWK("", []byte(r.stdout)); err != nil {
		t.Fatal(err)
	} else if set, _ := guard.MarshalJWKSet(k); len(set) < 500 {
		t.Errorf("a 3072-bit key's JWK Set is only %d bytes", len(set))
	}
}

func TestKeygenBadInput(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no alg", nil, "--alg is required"},
		{"unknown alg", []string{"--alg", "none"}, `unsupported algorithm "none"`},
		{"lower case alg", []string{"--alg", "es256"}, `unsupported algorithm "es256"`},
		{"small RSA", []string{"--alg", "RS256", "--bits", "1024"}, "2048 to 16384 bits"},
		{"HMAC as PEM", []string{"--alg", "HS256", "--pem"}, "no PEM form"},
		{"kid in PEM", []string{"--alg", "ES256", "--pem", "--kid", "a"}, "cannot hold a kid"},
		{"extra argument", []string{"--alg", "ES256", "file"}, `unexpected argument "file"`},
		{"json without out", []string{"--alg", "ES256", "--json"}, "--json summarises a key written with --out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, "", append([]string{"keygen"}, tt.args...)...)
			r.want(t, 2, nil, []string{tt.stderr})
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
}

func TestKeygenOutFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "signing.jwk")
	r := cmd(t, "", "keygen", "--alg", "ES256", "--out", p)
	r.want(t, 0, []string{"wrote " + p + ": ES256 key"}, nil)
	if strings.Contains(r.stdout, `"d"`) {
		t.Error("the private key was printed although --out was given")
	}
	mode := func() os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(); m != 0o600 {
		t.Errorf("mode %v, want 0600", m)
	}
	first, _ := os.ReadFile(p)

	r = cmd(t, "", "keygen", "--alg", "ES256", "--out", p)
	r.want(t, 2, nil, []string{"exists; use --force"})
	if again, _ := os.ReadFile(p); string(again) != string(first) {
		t.Error("the refused keygen changed the file")
	}

	// --force replaces it, still 0600, even over a file that was readable by all.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	r = cmd(t, "", "keygen", "--alg", "EdDSA", "--out", p, "--force", "--json")
	r.want(t, 0, []string{`"alg": "EdDSA"`, `"public_jwk"`, `"file"`}, nil)
	if strings.Contains(r.stdout, `"d"`) {
		t.Errorf("the JSON summary has a private member: %s", r.stdout)
	}
	if m := mode(); m != 0o600 {
		t.Errorf("mode after --force %v, want 0600", m)
	}
	k, err := loadKey(p, "")
	if err != nil || k.Algorithm() != guard.EdDSA {
		t.Fatalf("replaced key: %v, %v", k, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want 1 (no temporary file left)", len(entries))
	}

	// A directory that does not exist is an error, not a panic.
	r = cmd(t, "", "keygen", "--alg", "ES256", "--out", filepath.Join(dir, "no", "such", "k.jwk"))
	r.want(t, 1, nil, []string{"no such file or directory"})
}

func TestJWKS(t *testing.T) {
	dir := t.TempDir()
	es, esKey := newKeyFile(t, dir, "ES256")
	ed, edKey := newKeyFile(t, dir, "EdDSA", "--pem")
	rs, _ := newKeyFile(t, dir, "PS256", "--pem")
	hs, _ := newKeyFile(t, dir, "HS256")

	r := cmd(t, "", "jwks", es, ed)
	r.want(t, 0, []string{esKey.KeyID(), edKey.KeyID(), `"use": "sig"`}, nil)
	keys, skipped, err := guard.ParseJWKSet([]byte(r.stdout))
	if err != nil || len(skipped) != 0 || len(keys) != 2 {
		t.Fatalf("ParseJWKSet: %d keys, skipped %v, %v", len(keys), skipped, err)
	}
	for _, k := range keys {
		if k.CanSign() {
			t.Errorf("%v can sign", k)
		}
	}
	for _, member := range []string{`"d"`, `"p"`, `"q"`, `"k"`, `"dp"`} {
		if strings.Contains(r.stdout, member) {
			t.Errorf("the JWK Set has %s:\n%s", member, r.stdout)
		}
	}

	// A PEM RSA key is RS256 unless told; --alg PS256 keeps keygen's algorithm.
	cmd(t, "", "jwks", rs).want(t, 0, []string{`"alg": "RS256"`}, nil)
	cmd(t, "", "jwks", "--alg", "PS256", rs).want(t, 0, []string{`"alg": "PS256"`}, nil)

	// A JWK Set file is read whole; its output re-reads.
	set := writeFile(t, dir, "set.json", r.stdout)
	cmd(t, "", "jwks", set).want(t, 0, []string{esKey.KeyID(), edKey.KeyID()}, nil)

	bad := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no file", nil, "no key file given"},
		{"missing file", []string{filepath.Join(dir, "nope.pem")}, "no such file"},
		{"HMAC", []string{es, hs}, "an HS256 key is a shared secret (HMAC), which is never published"},
		{"malformed JWK", []string{writeFile(t, dir, "bad.jwk", `{"kty":"EC","crv":"P-256","x":"!!","y":"AA","alg":"ES256"}`)}, "malformed"},
		{"JSON garbage", []string{writeFile(t, dir, "bad.json", `{"kty":`)}, "malformed JSON"},
		{"PEM garbage", []string{writeFile(t, dir, "bad.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, "parsing PRIVATE KEY"},
		{"not a key", []string{writeFile(t, dir, "notes.txt", "hello")}, "neither a JWK (JSON) nor a PEM block"},
		{"empty", []string{writeFile(t, dir, "empty", "")}, "empty file"},
		{"certificate", []string{writeFile(t, dir, "cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}, `unsupported PEM block type "CERTIFICATE"`},
		{"duplicate kid", []string{es, es}, "kid"},
		{"empty set", []string{writeFile(t, dir, "empty.json", `{"keys":[]}`)}, "no keys"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := cmd(t, "", append([]string{"jwks"}, tt.args...)...)
			r.want(t, 2, nil, []string{tt.stderr})
			if r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
}
