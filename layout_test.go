package guard_test

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The house by role: the root accepts credentials, package authserver is
// the authorization server. These tests keep it that way.

// TestRootDoesNotImportAuthserver: the root's dependency graph has no
// authserver in it, so a service that only verifies tokens never links the
// server.
func TestRootDoesNotImportAuthserver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), "github.com/golang-jwt/jwt/v5") {
		t.Fatalf("go list -deps printed no plausible dependency list:\n%s", out)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/guardkit/guard/authserver") {
			t.Errorf("the root package depends on %s", d)
		}
	}
}

// TestGoDoc: the README's `go doc github.com/guardkit/guard` works from a
// clone: the workspace resolves, and the root's API is what it shows.
func TestGoDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "doc", "github.com/guardkit/guard").CombinedOutput()
	if err != nil {
		t.Fatalf("go doc: %v\n%s", err, out)
	}
	for _, want := range []string{"type Verifier struct", "type KeySet struct", "package guard"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("go doc does not show %q", want)
		}
	}
	if strings.Contains(string(out), "func NewTokenEndpoint") || strings.Contains(string(out), "type TokenEndpoint struct") {
		t.Error("go doc of the root lists the token endpoint")
	}
}

// exportedNames returns the exported top-level names declared in the
// non-test Go files of dir.
func exportedNames(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names[d.Name.Name] = f
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names[s.Name.Name] = f
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names[n.Name] = f
							}
						}
					}
				}
			}
		}
	}
	return names
}

// TestRootHasNoServerNames: no name of the authorization server (token and
// authorization endpoints, refresh families, client and user stores, login
// limiters, metadata serving) is declared in the root as well.
func TestRootHasNoServerNames(t *testing.T) {
	root := exportedNames(t, ".")
	server := exportedNames(t, "authserver")
	for _, must := range []string{"TokenEndpoint", "AuthorizeEndpoint", "RefreshStore", "ClientStore", "UserStore", "LoginLimiter", "MemoryLimiter", "DiscoveryHandler"} {
		if _, ok := server[must]; !ok {
			t.Errorf("authserver does not declare %s", must)
		}
	}
	for name := range server {
		if f, ok := root[name]; ok {
			t.Errorf("%s is declared in the root (%s) and in authserver", name, f)
		}
	}
	for _, must := range []string{"Verifier", "RequireRole", "RequireScope", "Principal", "TokenIssuer", "PasswordHasher", "CORS", "RevocationChecker"} {
		if _, ok := root[must]; !ok {
			t.Errorf("the root does not declare %s", must)
		}
	}
}

// TestFileLayout: the design's top-level files exist, and no non-test file
// of either package grows past 700 lines.
func TestFileLayout(t *testing.T) {
	for _, f := range []string{"auth.go", "jwt.go", "password.go", "rbac.go", "apikey.go", "cors.go"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("design file: %v", err)
		}
	}
	for _, dir := range []string{".", "authserver"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for sc := bufio.NewScanner(bytes.NewReader(data)); sc.Scan(); {
				n++
			}
			if n > 700 {
				t.Errorf("%s: %d lines, want at most 700", f, n)
			}
		}
	}
}
