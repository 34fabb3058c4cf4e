// Package guardhuma puts guard's authentication into a huma v2 API: the
// security schemes of guard's authenticators in the document's
// components.securitySchemes, and a middleware that enforces each
// operation's Security with those authenticators, so that what the docs
// show is what is enforced.
//
//	g, err := guardhuma.New(api, bearer, apiKeys) // registers schemes and the middleware
//	huma.Register(api, huma.Operation{
//		Method: http.MethodGet, Path: "/admin",
//		Security:   []map[string][]string{{"OAuth2": {"read"}}},
//		Extensions: map[string]any{guardhuma.RolesExtension: []string{"admin"}},
//	}, handler) // handler: guard.PrincipalFrom(ctx)
//
// or, with the guard.Policy a net/http route would use:
//
//	op := huma.Operation{Method: http.MethodGet, Path: "/admin"}
//	err := guardhuma.Secure(&op, &guard.Policy{Authenticators: []guard.Authenticator{bearer}, Roles: []string{"admin"}})
//	huma.Register(api, op, handler)
//
// Operation.Security is read as OpenAPI defines it: the requirements are
// alternatives (any one authenticates the request); an empty requirement {}
// admits requests without credentials; each requirement's list is the
// scopes the principal must hold. Operations without Security use the
// document's top-level Security; none at all means a public operation.
// Requirements naming several schemes at once (AND) are not supported:
// such operations are refused with 500 and a message naming them.
package guardhuma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/guardkit/guard"
)

// RolesExtension is the operation extension listing the roles of which the
// principal needs at least one, as guard.Registrar writes it. OpenAPI has
// no field for roles.
const RolesExtension = "x-guard-roles"

// Guard enforces a huma API's operation security with guard's
// authenticators. It is safe for concurrent use.
type Guard struct {
	api      huma.API
	byScheme map[string]guard.Authenticator
	ops      sync.Map // *huma.Operation -> *policy
}

// New registers the security schemes of authenticators (each a
// [guard.SecurityDescriber]; wrap others with [guard.Described]) in api's
// components.securitySchemes and adds the enforcing middleware to api. It
// returns an error listing every problem: an authenticator that cannot
// describe itself ([guard.ErrUndescribed]), a scheme under a name the
// document already holds differently ([guard.ErrSchemeConflict]).
func New(api huma.API, authenticators ...guard.Authenticator) (*Guard, error) {
	g := &Guard{api: api, byScheme: map[string]guard.Authenticator{}}
	doc := api.OpenAPI()
	if doc.Components == nil {
		doc.Components = &huma.Components{}
	}
	if doc.Components.SecuritySchemes == nil {
		doc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	var errs []error
	for i, a := range authenticators {
		d, ok := a.(guard.SecurityDescriber)
		var schemes []guard.NamedScheme
		if ok {
			schemes = d.SecuritySchemes()
		}
		if len(schemes) == 0 {
			errs = append(errs, fmt.Errorf("%w: authenticator %d (%T)", guard.ErrUndescribed, i, a))
			continue
		}
		for _, s := range schemes {
			if err := s.Check(); err != nil {
				errs = append(errs, err)
				continue
			}
			hs := schemeOf(s.Scheme)
			if prev, ok := doc.Components.SecuritySchemes[s.Name]; ok && !sameJSON(prev, hs) {
				errs = append(errs, fmt.Errorf("%w: %q (authenticator %d, %T)", guard.ErrSchemeConflict, s.Name, i, a))
				continue
			}
			doc.Components.SecuritySchemes[s.Name] = hs
			g.byScheme[s.Name] = a
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	api.UseMiddleware(g.Middleware)
	return g, nil
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// schemeOf copies a guard description into huma's type.
func schemeOf(s guard.SecurityScheme) *huma.SecurityScheme {
	hs := &huma.SecurityScheme{Type: s.Type, Description: s.Description, Name: s.Name, In: s.In,
		Scheme: s.Scheme, BearerFormat: s.BearerFormat, OpenIDConnectURL: s.OpenIDConnectURL}
	if f := s.Flows; f != nil {
		flow := func(f *guard.OAuthFlow) *huma.OAuthFlow {
			if f == nil {
				return nil
			}
			scopes := map[string]string{}
			for k, v := range f.Scopes {
				scopes[k] = v
			}
			return &huma.OAuthFlow{AuthorizationURL: f.AuthorizationURL, TokenURL: f.TokenURL, RefreshURL: f.RefreshURL, Scopes: scopes}
		}
		hs.Flows = &huma.OAuthFlows{Implicit: flow(f.Implicit), Password: flow(f.Password),
			ClientCredentials: flow(f.ClientCredentials), AuthorizationCode: flow(f.AuthorizationCode)}
	}
	return hs
}

// policy is an operation's security, compiled once.
type policy struct {
	public   bool
	optional bool
	auths    []guard.Authenticator
	scopes   [][]string // per auth
	roles    []string
	missing  *guard.Error
	ambig    *guard.Error
	bad      string // a configuration error: answered 500
}

func (g *Guard) compile(op *huma.Operation) *policy {
	if p, ok := g.ops.Load(op); ok {
		return p.(*policy)
	}
	p := &policy{}
	reqs := op.Security
	if reqs == nil {
		reqs = g.api.OpenAPI().Security
	}
	if len(reqs) == 0 {
		p.public = true
	}
	for _, req := range reqs {
		if len(req) == 0 {
			p.optional = true
			continue
		}
		if len(req) > 1 {
			p.bad = fmt.Sprintf("operation %s %s: a security requirement naming several schemes (AND) is not supported", op.Method, op.Path)
			break
		}
		for name, scopes := range req {
			a, ok := g.byScheme[name]
			if !ok {
				p.bad = fmt.Sprintf("operation %s %s: no guard authenticator describes scheme %q", op.Method, op.Path, name)
				break
			}
			if i := slices.Index(p.auths, a); i >= 0 {
				if !slices.Equal(p.scopes[i], scopes) {
					p.bad = fmt.Sprintf("operation %s %s: one authenticator's schemes need different scopes", op.Method, op.Path)
				}
				continue
			}
			p.auths = append(p.auths, a)
			p.scopes = append(p.scopes, slices.Clone(scopes))
		}
	}
	switch roles := op.Extensions[RolesExtension].(type) {
	case []string:
		p.roles = slices.Clone(roles)
	case []any:
		for _, r := range roles {
			if s, ok := r.(string); ok {
				p.roles = append(p.roles, s)
			}
		}
	}
	if p.optional && len(p.roles) > 0 && p.bad == "" {
		p.bad = fmt.Sprintf("operation %s %s: roles with an empty security requirement", op.Method, op.Path)
	}
	var challenges []string
	for _, a := range p.auths {
		challenges = append(challenges, a.Challenge())
	}
	p.missing = &guard.Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: challenges, Err: guard.ErrNoCredentials}
	p.ambig = &guard.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential", Challenges: challenges, Err: guard.ErrInvalidRequest}
	actual, _ := g.ops.LoadOrStore(op, p)
	return actual.(*policy)
}

// Middleware enforces the operation's security (see the package
// documentation) and hands the [guard.Principal] to the handler in its
// context ([guard.PrincipalFrom]). Failures are written the huma way
// (huma.WriteErr: application/problem+json with status and detail) with
// guard's WWW-Authenticate challenges: 401 without or with bad credentials,
// 400 for two kinds at once, 403 insufficient_scope without a required role
// or scope, 503 when a store fails. [New] installs it.
func (g *Guard) Middleware(ctx huma.Context, next func(huma.Context)) {
	p := g.compile(ctx.Operation())
	if p.public {
		next(ctx)
		return
	}
	if p.bad != "" {
		_ = huma.WriteErr(g.api, ctx, http.StatusInternalServerError, "guard: "+p.bad)
		return
	}
	r := request(ctx)
	var (
		found    *guard.Principal
		foundErr error
		from     = -1
		present  int
	)
	for i, a := range p.auths {
		pr, err := a.Authenticate(r)
		if errors.Is(err, guard.ErrNoCredentials) {
			continue
		}
		present++
		found, foundErr, from = pr, err, i
	}
	if r.URL.RawQuery != "" && present > 0 {
		ctx.SetHeader("Cache-Control", "no-store")
	}
	switch {
	case present == 0 && p.optional:
		next(ctx)
		return
	case present == 0:
		g.fail(ctx, p.missing)
		return
	case present > 1:
		g.fail(ctx, p.ambig)
		return
	case foundErr != nil:
		e := guard.ErrorOf(foundErr)
		if e.Status == http.StatusUnauthorized && len(e.Challenges) == 0 {
			c := *e
			c.Challenges = []string{p.auths[from].Challenge()}
			e = &c
		}
		g.fail(ctx, e)
		return
	case found == nil:
		g.fail(ctx, &guard.Error{Status: http.StatusInternalServerError, Code: "server_error"})
		return
	}
	if len(p.roles) > 0 && !slices.ContainsFunc(p.roles, found.HasRole) {
		g.fail(ctx, forbidden(p.auths[from], p.roles))
		return
	}
	for _, s := range p.scopes[from] {
		if !found.HasScope(s) {
			g.fail(ctx, forbidden(p.auths[from], p.scopes[from]))
			return
		}
	}
	next(huma.WithContext(ctx, guard.NewContext(ctx.Context(), found)))
}

func forbidden(a guard.Authenticator, need []string) *guard.Error {
	return &guard.Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "insufficient privileges",
		Scope: strings.Join(need, " "), Challenges: []string{a.Challenge()}, Err: guard.ErrInsufficientScope}
}

func (g *Guard) fail(ctx huma.Context, e *guard.Error) {
	for _, v := range e.WWWAuthenticate() {
		ctx.AppendHeader("WWW-Authenticate", v)
	}
	if e.RetryAfter > 0 {
		ctx.SetHeader("Retry-After", strconv.Itoa(int((e.RetryAfter.Seconds() + 0.999))))
	}
	msg := e.Description
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	_ = huma.WriteErr(g.api, ctx, e.Status, msg)
}

// request is the *http.Request under ctx: the adapter's own (humago,
// humachi and others expose it through Unwrap), or one rebuilt from ctx.
func request(ctx huma.Context) *http.Request {
	c := ctx
	for {
		u, ok := c.(interface{ Unwrap() huma.Context })
		if !ok {
			break
		}
		c = u.Unwrap()
	}
	if u, ok := c.(interface {
		Unwrap() (*http.Request, http.ResponseWriter)
	}); ok {
		if r, _ := u.Unwrap(); r != nil {
			if r.Context() != ctx.Context() {
				r = r.WithContext(ctx.Context())
			}
			return r
		}
	}
	u := ctx.URL()
	r := &http.Request{Method: ctx.Method(), URL: &u, Host: ctx.Host(), RemoteAddr: ctx.RemoteAddr(),
		TLS: ctx.TLS(), Header: http.Header{}, RequestURI: u.RequestURI()}
	ctx.EachHeader(func(name, value string) { r.Header.Add(name, value) })
	return r.WithContext(ctx.Context())
}

// Secure sets op's Security and the RolesExtension from p, the same
// guard.Policy a net/http route would be mounted with (guard.Registrar), so
// that a huma operation is declared with guard's values rather than scheme
// names restated by hand. p's authenticators must be among those given to
// [New]. Roles are listed as p has them (a hierarchy in p.Authorizer is
// not expanded here). It returns p.Security's error.
func Secure(op *huma.Operation, p *guard.Policy) error {
	reqs, _, err := p.Security()
	if err != nil {
		return err
	}
	op.Security = make([]map[string][]string, 0, len(reqs))
	for _, r := range reqs {
		m := map[string][]string{}
		for k, v := range r {
			m[k] = slices.Clone(v)
		}
		op.Security = append(op.Security, m)
	}
	if p != nil && len(p.Roles) > 0 {
		if op.Extensions == nil {
			op.Extensions = map[string]any{}
		}
		op.Extensions[RolesExtension] = slices.Clone(p.Roles)
	}
	return nil
}
