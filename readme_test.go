package guard_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMESnippetsCompile builds every ```go block of the README against
// this working tree, so a snippet that would not compile (a func passed where
// an http.Handler is needed, a name that moved to authserver) fails here.
// A block's top-level funcs stay declarations; its other lines become the
// body of a function that has ctx, secret ([]byte) and mux (*http.ServeMux)
// in scope, and an app's verifier (*guard.Verifier) and admin handler at
// package level, with "…" standing for code the reader fills in.
func TestREADMESnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("no go blocks in README.md")
	}
	dir := t.TempDir()
	gomod := "module readmesnippets\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/guardkit/guard v0.0.0-00010101000000-000000000000\n" +
		"\tgithub.com/guardkit/guard/redisstore v0.0.0-00010101000000-000000000000\n)\n\n" +
		"replace github.com/guardkit/guard => " + root + "\n\n" +
		"replace github.com/guardkit/guard/redisstore => " + filepath.Join(root, "redisstore") + "\n"
	var sum []byte
	for _, f := range []string{"go.sum", filepath.Join("redisstore", "go.sum")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sum = append(sum, b...)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", gomod)
	write("go.sum", string(sum))
	// What snippets use without declaring: an app's verifier and handler.
	write("app.go", "package readmesnippets\n\nimport (\n\t\"net/http\"\n\n\t\"github.com/guardkit/guard\"\n)\n\n"+
		"var (\n\tverifier *guard.Verifier\n\tadmin    http.Handler\n)\n")
	for i, b := range blocks {
		write(fmt.Sprintf("snippet%d.go", i), snippetFile(i, b[1]))
	}
	cmd := exec.Command(gobin, "build", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README snippets do not compile: %v\n%s", err, out)
	}
}

var declared = regexp.MustCompile(`^\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:=`)

// snippetFile turns README block i into a Go file of package readmesnippets.
func snippetFile(i int, block string) string {
	var decls, body strings.Builder
	var names []string // declared in the statements, used once so the compiler accepts them
	inFunc := false
	var fnNames []string
	for _, line := range strings.Split(block, "\n") {
		if strings.TrimSpace(line) == "…" {
			continue
		}
		if m := declared.FindStringSubmatch(line); m != nil {
			for _, n := range strings.Split(m[1], ",") {
				if n = strings.TrimSpace(n); n != "_" {
					if inFunc {
						fnNames = append(fnNames, n)
					} else {
						names = append(names, n)
					}
				}
			}
		}
		switch {
		case strings.HasPrefix(line, "func "):
			inFunc = true
			decls.WriteString(line + "\n")
		case inFunc && line == "}":
			for _, n := range fnNames {
				decls.WriteString("\t_ = " + n + "\n")
			}
			fnNames = nil
			inFunc = false
			decls.WriteString("}\n")
		case inFunc:
			decls.WriteString(line + "\n")
		default:
			body.WriteString("\t" + line + "\n")
		}
	}
	for _, n := range names {
		body.WriteString("\t_ = " + n + "\n")
	}
	return fmt.Sprintf(`package readmesnippets

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"time"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/authserver"
	"github.com/guardkit/guard/redisstore"
)

var (
	_ = base64.StdEncoding
	_ = http.NewServeMux
	_ = os.Getenv
	_ = time.Second
	_ = guard.NewVerifier
	_ = authserver.NewTokenEndpoint
	_ = redisstore.New
)

func snippet%d(ctx context.Context, secret []byte, mux *http.ServeMux) {
	_, _, _ = ctx, secret, mux
%s}

%s`, i, body.String(), decls.String())
}
