package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of an external program a test needs. Without
// it the test is skipped, except under CI (CI set), where it fails: CI
// installs every tool, so a missing one is a broken pipeline.
func needTool(t *testing.T, name string, probe ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil && len(probe) > 0 {
		err = exec.Command(path, probe...).Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not available: %v", name, err)
	}
	return path
}

// nodeJose returns the node binary once e2e/node has its packages
// (installed with `npm ci` there).
func nodeJose(t *testing.T) string {
	t.Helper()
	return nodeWith(t, "jose")
}

// nodeWith returns the node binary once e2e/node has the npm packages named
// (installed with `npm ci` there). Without them the test is skipped, except
// under CI, where it fails.
func nodeWith(t *testing.T, packages ...string) string {
	t.Helper()
	node := needTool(t, "node")
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join("node", "node_modules", filepath.FromSlash(p), "package.json")); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("npm %s is not installed (run npm ci in e2e/node): %v", p, err)
			}
			t.Skipf("npm %s is not installed (run npm ci in e2e/node): %v", p, err)
		}
	}
	return node
}

// debianPython is /usr/bin/python3 with PyJWT and cryptography (Debian
// python3-jwt); a python3 found first on PATH may lack Debian's modules.
func debianPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import jwt, cryptography").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s with PyJWT is required under CI (Debian python3-jwt): %v", py, err)
		}
		t.Skipf("%s with PyJWT not available: %v", py, err)
	}
	return py
}

// verdict is one line of a driver's verify output.
type verdict struct {
	Alg   string `json:"alg"`
	OK    bool   `json:"ok"`
	Sub   string `json:"sub"`
	Error string `json:"error"`
}

// signed is a driver's sign output.
type signed struct {
	JWKS   json.RawMessage `json:"jwks"`
	Tokens []struct {
		Alg   string `json:"alg"`
		Token string `json:"token"`
	} `json:"tokens"`
}

// runDriver runs a driver with args and stdin, bounded to a minute, and
// returns its stdout.
func runDriver(t *testing.T, stdin string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func parseVerdicts(t *testing.T, out []byte) map[string]verdict {
	t.Helper()
	got := map[string]verdict{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var v verdict
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("driver output %q: %v", line, err)
		}
		got[v.Alg] = v
	}
	return got
}
