package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProgram builds ../examples/<name> and runs it with env until the test ends.
// An example with a go.mod of its own (examples/mcpserver) is built in its
// directory, as its own module.
func startProgram(t *testing.T, name string, env ...string) *lockedBuffer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./examples/"+name)
	build.Dir = ".."
	if _, err := os.Stat(filepath.Join("..", "examples", name, "go.mod")); err == nil {
		build = exec.Command("go", "build", "-o", bin, ".")
		build.Dir = filepath.Join("..", "examples", name)
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	var out lockedBuffer
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return &out
}

// eventually polls f every 100ms until it returns true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestTwoServicesRotation runs examples/authservice and
// examples/resourceservice as built binaries, the auth service rotating its
// key every 4s (each key published 2s before it signs, tokens living 2s, a
// retired key verifying 3s more), and shows: tokens of the old and of the new
// key both accepted by the resource service during the overlap; the retired
// key gone from the JWKS and refused by the resource service after its
// window; and the resource service, never restarted, following the rotation.
func TestTwoServicesRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two programs")
	}
	authAddr, resAddr := freeAddr(t), freeAddr(t)
	issuer := "http://" + authAddr
	startProgram(t, "authservice", "ADDR="+authAddr, "ISSUER_URL="+issuer, "AUDIENCE=api",
		"ROTATE_EVERY=4s", "TOKEN_TTL=2s", "RETIRE_AFTER=3s", "BCRYPT_COST=10")
	startProgram(t, "resourceservice", "ADDR="+resAddr, "ISSUER_URL="+issuer, "AUDIENCE=api",
		"MIN_REFRESH=1s", "REFETCH_INTERVAL=500ms")
	client := &http.Client{Timeout: 5 * time.Second}

	mustLogin := func() string {
		t.Helper()
		form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "client_id": {"demo-app"}}
		resp, err := client.PostForm(issuer+"/token", form)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&tok) != nil || tok.AccessToken == "" {
			t.Fatalf("login: status %d", resp.StatusCode)
		}
		return tok.AccessToken
	}
	hello := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+resAddr+"/hello", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	jwksKids := func() []string {
		resp, err := client.Get(issuer + "/.well-known/jwks.json")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&set)
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}

	// Both services up, the resource service holding the first key.
	eventually(t, 10*time.Second, "the auth service answers", func() bool { return len(jwksKids()) > 0 })
	first := mustLogin()
	eventually(t, 10*time.Second, "the resource service accepts the first key's token", func() bool {
		code, _ := hello(first)
		return code == 200
	})
	oldKid := kidOf(t, first)

	// Log in until a token carries a new kid, keeping the last token of the
	// old key: the rotation happens while both are valid.
	var oldTok, newTok string
	eventually(t, 8*time.Second, "a token signed with a new key", func() bool {
		tok := mustLogin()
		if kidOf(t, tok) == oldKid {
			oldTok = tok
			return false
		}
		newTok = tok
		return true
	})
	if oldTok == "" {
		oldTok = first
	}
	newKid := kidOf(t, newTok)
	for _, c := range []struct{ name, tok string }{{"old key " + oldKid, oldTok}, {"new key " + newKid, newTok}} {
		if code, body := hello(c.tok); code != 200 || !strings.Contains(body, `"subject":"alice"`) {
			t.Errorf("overlap, token of the %s: got %d %s, want 200 with subject alice", c.name, code, body)
		}
	}
	kids := jwksKids()
	t.Logf("overlap: old kid %s, new kid %s, JWKS %q", oldKid, newKid, kids)
	if !slices.Contains(kids, oldKid) || !slices.Contains(kids, newKid) {
		t.Errorf("JWKS during the overlap: got %q, want both %s and %s", kids, oldKid, newKid)
	}

	// After the retirement window the old key leaves the JWKS, and the
	// resource service (refreshing every second) drops it: its token is
	// refused for its key, not only for its age.
	eventually(t, 8*time.Second, "the retired key leaves the JWKS", func() bool { return !slices.Contains(jwksKids(), oldKid) })
	eventually(t, 5*time.Second, "the resource service refuses the retired key", func() bool {
		code, body := hello(oldTok)
		return code == 401 && strings.Contains(body, "unknown signing key")
	})
	// The resource service, still the same process, accepts the current key.
	if code, body := hello(mustLogin()); code != 200 {
		t.Errorf("after rotation: got %d %s, want 200", code, body)
	}
}
