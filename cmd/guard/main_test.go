package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guardkit/guard"
)

// result is what one run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// cmd runs the command in-process through run, with stdin.
func cmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// cmdAt runs the command with its clock fixed at now.
func cmdAt(t *testing.T, now time.Time, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, now: func() time.Time { return now }}
	code := c.main(args)
	return result{code, out.String(), errb.String()}
}

// want checks the exit status and that stdout and stderr contain the
// given parts; every run is also checked for leaked internals.
func (r result) want(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	for _, bad := range []string{"panic", "goroutine ", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr shows %q:\n%s", bad, r.stderr)
		}
	}
	if code != exitOK && r.stderr == "" && r.stdout == "" {
		t.Error("a failure printed nothing")
	}
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newKeyFile generates a key with keygen into dir and returns its path and key.
func newKeyFile(t *testing.T, dir, alg string, more ...string) (string, *guard.Key) {
	t.Helper()
	p := filepath.Join(dir, strings.ToLower(alg)+strings.Join(more, "")+".key")
	r := cmd(t, "", append([]string{"keygen", "--alg", alg, "--out", p}, more...)...)
	if r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	k, err := loadKey(p, "")
	if err != nil {
		t.Fatal(err)
	}
	return p, k
}

// issue mints a token with key at now through guard's TokenIssuer.
func issue(t *testing.T, key *guard.Key, now time.Time, c guard.Claims) string {
	t.Helper()
	iss, err := guard.NewTokenIssuer(guard.TokenIssuerConfig{Key: key, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"no command", nil, 2, nil, []string{"Usage:"}},
		{"help", []string{"-h"}, 0, []string{"guard keygen", "guard discover"}, nil},
		{"unknown", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
		{"token alone", []string{"token"}, 2, nil, []string{"guard token mint"}},
		{"token unknown", []string{"token", "sign"}, 2, nil, []string{`unknown command "sign"`}},
		{"apikey alone", []string{"apikey"}, 2, nil, []string{"guard apikey new"}},
		{"bad flag", []string{"keygen", "--nope"}, 2, nil, []string{"flag provided but not defined: -nope"}},
		{"bad duration", []string{"token", "verify", "--leeway", "soon", "x"}, 2, nil, []string{"invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd(t, "", tt.args...).want(t, tt.code, tt.stdout, tt.stderr)
		})
	}
}

// TestHelp: every command answers -h with its usage and examples, on
// stdout, with status 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"keygen"}, {"jwks"}, {"hash"}, {"hash", "verify"}, {"apikey", "new"}, {"apikey"},
		{"token", "mint"}, {"token", "inspect"}, {"token", "verify"}, {"discover"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cmd(t, "", append(args, "-h")...)
			r.want(t, 0, []string{"Usage: guard " + args[0], "Examples:"}, nil)
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	c := &cli{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}
	fs := c.flagSet("x", "guard x", "")
	aud := fs.String("aud", "", "")
	pos, _, done := c.parse(fs, []string{"a", "--aud", "x", "b", "--", "--c"})
	if done {
		t.Fatal("done")
	}
	if got := strings.Join(pos, " "); got != "a b --c" || *aud != "x" {
		t.Errorf("positional %q, aud %q; want %q, %q", got, *aud, "a b --c", "x")
	}
}

// TestBinary builds the command and runs it as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "guard")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key := filepath.Join(dir, "k.jwk")
	if out, err := exec.Command(bin, "keygen", "--alg", "EdDSA", "--out", key).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	tok, err := exec.Command(bin, "token", "mint", "--key", key, "--sub", "alice", "--aud", "api").Output()
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	v := exec.Command(bin, "token", "verify", "--key", key, "--aud", "api", "-")
	v.Stdin = bytes.NewReader(tok)
	if out, err := v.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "valid") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	bad := exec.Command(bin, "token", "inspect", "not-a-token")
	out, err := bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("inspect of garbage: %v, want exit status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "malformed token") || strings.Contains(string(out), "goroutine") {
		t.Errorf("inspect of garbage printed %s", out)
	}
}
