package main

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHelpCommandsWork pastes the commands the server prints into a shell,
// against the server: each must run and get the answer it promises, with
// nothing left for the reader to fill in.
func TestHelpCommandsWork(t *testing.T) {
	for _, p := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found and CI is set", p)
			}
			t.Skipf("%s not installed", p)
		}
	}
	srv := httptest.NewServer(testApp(t, nil))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	help := helpText(addr, "demo-key")
	if strings.Contains(help, "…") {
		t.Errorf("the help has a placeholder to fill in:\n%s", help)
	}
	_, block, _ := strings.Cut(help, "Try:\n")
	block, _, _ = strings.Cut(block, "\n\n")
	var script strings.Builder
	script.WriteString("set -e\n")
	n := 0
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n++
		// Each command's output, then a separator, so the test can check
		// them one by one.
		script.WriteString(line + "\necho\necho '----'\n")
	}
	if n < 8 {
		t.Fatalf("found %d commands in the help, want the whole walk:\n%s", n, help)
	}
	out, err := exec.Command("bash", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("the commands failed: %v\n%s", err, out)
	}
	results := strings.Split(string(out), "----\n")
	want := []string{
		`"access_token":"`,          // login
		``,                          // TOKEN=
		`"subject":"alice"`,         // /protected
		`"roles":["admin"]`,         // /admin
		``,                          // REFRESH=
		`"refresh_token":"`,         // refresh
		`HTTP/1.1 200 OK`,           // revoke
		`"subject":"demo-client"`,   // /secure
		`"subject":"demo-client"`,   // /secure-query
		`"token_endpoint":"http://`, // metadata
	}
	if len(results) < len(want) {
		t.Fatalf("got %d outputs, want %d:\n%s", len(results), len(want), out)
	}
	for i, w := range want {
		if !strings.Contains(results[i], w) {
			t.Errorf("command %d: output %q, want it to contain %q", i+1, results[i], w)
		}
	}
}
