package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Mux is where a [Registrar] mounts routes: an *http.ServeMux, or a router
// with the same method, such as chi.Router (patterns "GET /path").
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// RegistrarConfig configures [NewRegistrar]. It is copied by the
// constructor; changing it afterwards has no effect.
type RegistrarConfig struct {
	// Mux mounts the routes. Required.
	Mux Mux
	// Base is the app's own OpenAPI 3.1 document, as JSON, to merge into:
	// everything in it is kept, except the "security" of the operations the
	// Registrar mounts, which is replaced by what their Policy enforces, and
	// their description, which gets a line naming required roles. Default:
	// an empty document.
	Base []byte
	// Title and Version fill "info" when Base has none. Defaults "API" and
	// "0.1.0".
	Title, Version string
}

// Registrar mounts handlers on a [Mux] behind a [Policy] and records each
// route's policy, so that [Registrar.OpenAPI] describes exactly what the
// middleware enforces: routes are declared once. Routes mounted on the Mux
// directly are not in the document. A Registrar is safe for concurrent use.
//
//	reg, err := guard.NewRegistrar(guard.RegistrarConfig{Mux: mux})
//	reg.Handle("GET /admin", &guard.Policy{Authenticators: []guard.Authenticator{v}, Roles: []string{"admin"}}, admin)
//	reg.Handle("POST /token", nil, tokenEndpoint) // public
//	doc, err := reg.OpenAPI()
type Registrar struct {
	mux            Mux
	base           []byte
	title, version string

	mu     sync.Mutex
	routes []registeredRoute
}

type registeredRoute struct {
	pattern string
	policy  *Policy
}

// NewRegistrar returns a Registrar for cfg, or an error listing every
// problem: no Mux, a Base that is not a JSON object, or one whose "openapi"
// is not 3.1.x.
func NewRegistrar(cfg RegistrarConfig) (*Registrar, error) {
	var errs []error
	if cfg.Mux == nil {
		errs = append(errs, errors.New("guard: RegistrarConfig.Mux is required"))
	}
	if len(cfg.Base) > 0 {
		if _, err := parseBase(cfg.Base); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &Registrar{mux: cfg.Mux, base: bytes.Clone(cfg.Base), title: cfg.Title, version: cfg.Version}
	if r.title == "" {
		r.title = "API"
	}
	if r.version == "" {
		r.version = "0.1.0"
	}
	return r, nil
}

func parseBase(b []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
		return nil, fmt.Errorf("guard: RegistrarConfig.Base is not a JSON object: %v", err)
	}
	if v, ok := doc["openapi"]; ok {
		if s, _ := v.(string); !strings.HasPrefix(s, "3.1.") {
			return nil, fmt.Errorf("guard: RegistrarConfig.Base is OpenAPI %v; want 3.1.x", v)
		}
	}
	for _, k := range []string{"paths", "components", "info"} {
		if v, ok := doc[k]; ok {
			if _, isObj := v.(map[string]any); !isObj {
				return nil, fmt.Errorf("guard: RegistrarConfig.Base: %q is not an object", k)
			}
		}
	}
	return doc, nil
}

// Handle mounts h at pattern behind p's middleware ([Policy.Middleware]) and
// records p for the document. A nil p mounts h as it is: a public route,
// described with "security": []. It panics where p.Middleware or the Mux
// panics (a wiring mistake, such as a pattern the Mux already has).
func (g *Registrar) Handle(pattern string, p *Policy, h http.Handler) {
	g.mux.Handle(pattern, p.Middleware()(h))
	g.mu.Lock()
	g.routes = append(g.routes, registeredRoute{pattern, p})
	g.mu.Unlock()
}

// HandleFunc is [Registrar.Handle] for a handler function.
func (g *Registrar) HandleFunc(pattern string, p *Policy, h func(http.ResponseWriter, *http.Request)) {
	g.Handle(pattern, p, http.HandlerFunc(h))
}

// anyMethod are the operations a route without a method is described under.
var anyMethod = []string{"get", "put", "post", "delete", "patch"}

// OpenAPI builds the OpenAPI 3.1 document (JSON) of the registered routes,
// merged into RegistrarConfig.Base: "openapi": "3.1.0", "info", one
// operation per route and method with its "security" (see [Policy]), and
// components.securitySchemes. A route without a method ("/x") is described
// under get, put, post, delete and patch, as the Mux serves them all.
//
// It reports every problem at once, each with its route's pattern: an
// authenticator that cannot describe itself ([ErrUndescribed]), so that no
// guarded route looks open in the docs; two different schemes under one
// name, or a scheme that differs from Base's of that name
// ([ErrSchemeConflict]). The document holds no secret: schemes describe
// where credentials go, never their values. Build it once, at start-up.
func (g *Registrar) OpenAPI() ([]byte, error) {
	g.mu.Lock()
	routes := slices.Clone(g.routes)
	g.mu.Unlock()

	doc := map[string]any{}
	if len(g.base) > 0 {
		doc, _ = parseBase(g.base) // checked by NewRegistrar
	}
	doc["openapi"] = "3.1.0"
	info := object(doc, "info")
	if _, ok := info["title"]; !ok {
		info["title"] = g.title
	}
	if _, ok := info["version"]; !ok {
		info["version"] = g.version
	}
	paths := object(doc, "paths")
	schemes := object(object(doc, "components"), "securitySchemes")
	owner := map[string]string{} // scheme name -> pattern of the route that first described it
	for name := range schemes {
		owner[name] = "RegistrarConfig.Base"
	}

	var errs []error
	for _, rt := range routes {
		reqs, named, err := rt.policy.Security()
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: route %q: %w", rt.pattern, err))
			continue
		}
		for _, s := range named {
			if err := addScheme(schemes, owner, s, rt.pattern); err != nil {
				errs = append(errs, err)
			}
		}
		method, path := splitPattern(rt.pattern)
		methods := anyMethod
		if method != "" {
			methods = []string{strings.ToLower(method)}
		}
		item := object(paths, path)
		for _, m := range methods {
			describeOperation(item, m, path, rt.policy, reqs)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(schemes) == 0 {
		delete(object(doc, "components"), "securitySchemes")
	}
	if len(object(doc, "components")) == 0 {
		delete(doc, "components")
	}
	return json.MarshalIndent(doc, "", "  ")
}

// OpenAPIHandler builds the document once with [Registrar.OpenAPI] and
// returns a handler serving it as application/json, or OpenAPI's error.
// Mount it outside the Registrar (for example at GET /openapi.json) so it is
// not part of the document it serves.
func (g *Registrar) OpenAPIHandler() (http.Handler, error) {
	doc, err := g.OpenAPI()
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}), nil
}

// object returns m[key] as an object, creating it when absent.
func object(m map[string]any, key string) map[string]any {
	if o, ok := m[key].(map[string]any); ok {
		return o
	}
	o := map[string]any{}
	m[key] = o
	return o
}

// addScheme puts s into schemes, refusing a different scheme of the same name.
func addScheme(schemes map[string]any, owner map[string]string, s NamedScheme, pattern string) error {
	mine, err := canonical(s.Scheme)
	if err != nil {
		return err
	}
	if prev, ok := schemes[s.Name]; ok {
		theirs, err := canonical(prev)
		if err != nil {
			return err
		}
		if !bytes.Equal(mine, theirs) {
			return fmt.Errorf("%w: %q is %s for route %q and %s for %s; rename one with guard.Described", ErrSchemeConflict, s.Name, mine, pattern, theirs, owner[s.Name])
		}
		return nil
	}
	var v any
	_ = json.Unmarshal(mine, &v)
	schemes[s.Name] = v
	owner[s.Name] = fmt.Sprintf("route %q", pattern)
	return nil
}

// canonical is v as JSON with sorted keys.
func canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}

// splitPattern splits a ServeMux or chi pattern "[METHOD ][HOST]/PATH" into
// its method and its path in OpenAPI's template form: "{id...}" and chi's
// "{id:[0-9]+}" become "{id}", "{$}" is dropped.
func splitPattern(pattern string) (method, path string) {
	pattern = strings.TrimSpace(pattern)
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		method, pattern = pattern[:i], strings.TrimSpace(pattern[i+1:])
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // drop a host
	}
	var b strings.Builder
	for {
		open := strings.IndexByte(pattern, '{')
		if open < 0 {
			b.WriteString(pattern)
			break
		}
		end := strings.IndexByte(pattern[open:], '}')
		if end < 0 {
			b.WriteString(pattern)
			break
		}
		b.WriteString(pattern[:open])
		name := pattern[open+1 : open+end]
		name, _, _ = strings.Cut(name, ":")
		name = strings.TrimSuffix(name, "...")
		if name != "$" {
			b.WriteString("{" + name + "}")
		}
		pattern = pattern[open+end+1:]
	}
	return method, b.String()
}

// pathParams are the names of path's template parameters.
func pathParams(path string) []string {
	var names []string
	for {
		open := strings.IndexByte(path, '{')
		if open < 0 {
			return names
		}
		end := strings.IndexByte(path[open:], '}')
		if end < 0 {
			return names
		}
		names = append(names, path[open+1:open+end])
		path = path[open+end+1:]
	}
}

// describeOperation sets the security of item's operation m, creating a
// minimal operation when Base has none.
func describeOperation(item map[string]any, m, path string, p *Policy, reqs []SecurityRequirement) {
	op, existed := item[m].(map[string]any)
	if !existed {
		op = map[string]any{"responses": map[string]any{"200": map[string]any{"description": "OK"}}}
		var params []any
		for _, n := range pathParams(path) {
			params = append(params, map[string]any{"name": n, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		item[m] = op
	}
	security := make([]any, 0, len(reqs))
	for _, r := range reqs {
		security = append(security, r)
	}
	op["security"] = security
	if len(reqs) == 0 {
		return
	}
	responses := object(op, "responses")
	if _, ok := responses["401"]; !ok {
		responses["401"] = map[string]any{"description": "Missing or invalid credentials; WWW-Authenticate names the scheme."}
	}
	if len(p.Roles) == 0 && len(p.Scopes) == 0 {
		return
	}
	if _, ok := responses["403"]; !ok {
		responses["403"] = map[string]any{"description": "Authenticated without the required role or scope (insufficient_scope)."}
	}
	roles := p.acceptedRoles()
	if len(roles) == 0 {
		return
	}
	op["x-guard-roles"] = roles
	line := "Requires one of the roles: " + strings.Join(roles, ", ") + "."
	if d, _ := op["description"].(string); d != "" {
		line = d + "\n\n" + line
	}
	op["description"] = line
}
