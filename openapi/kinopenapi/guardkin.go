// Package guardkin backs kin-openapi's request validation (and so
// oapi-codegen's validator middlewares) with guard: an
// openapi3filter.AuthenticationFunc that authenticates each security
// requirement with the guard authenticator that describes its scheme, and
// a way for the principal to reach the handler.
//
// Two ways to use it:
//
//   - [Guard.Middleware] (finds the route) or [Guard.Require] (one
//     operation): enforces its security as guard's RequireAuth does (401
//     with challenges, 400 for two credentials, 403 insufficient_scope for
//     a missing scope or x-guard-roles role), and calls the handler with the
//     principal in guard's context (guard.PrincipalFrom).
//   - With another validator (oapi-codegen's OapiRequestValidatorWithOptions,
//     openapi3filter.ValidateRequest): set Options.AuthenticationFunc to
//     [Guard.AuthenticationFunc] and put [Guard.Slot] outside the validator;
//     the handler reads the principal with [PrincipalFrom].
package guardkin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/guardkit/guard"
)

// RolesExtension is the operation extension listing the roles of which the
// principal needs at least one, as guard.Registrar writes it.
const RolesExtension = "x-guard-roles"

// Guard authenticates kin-openapi security requirements with guard. It is
// safe for concurrent use.
type Guard struct {
	doc      *openapi3.T
	byScheme map[string]guard.Authenticator
}

// New adds the security schemes of authenticators (each a
// [guard.SecurityDescriber]) to doc's components.securitySchemes, and
// returns a Guard that authenticates them. It returns an error listing
// every problem: an authenticator that cannot describe itself
// ([guard.ErrUndescribed]), a scheme doc already holds differently
// ([guard.ErrSchemeConflict]).
func New(doc *openapi3.T, authenticators ...guard.Authenticator) (*Guard, error) {
	g := &Guard{doc: doc, byScheme: map[string]guard.Authenticator{}}
	if doc.Components == nil {
		doc.Components = &openapi3.Components{}
	}
	if doc.Components.SecuritySchemes == nil {
		doc.Components.SecuritySchemes = openapi3.SecuritySchemes{}
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
			ks, err := schemeOf(s.Scheme)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if prev := doc.Components.SecuritySchemes[s.Name]; prev != nil && !sameJSON(prev.Value, ks) {
				errs = append(errs, fmt.Errorf("%w: %q (authenticator %d, %T)", guard.ErrSchemeConflict, s.Name, i, a))
				continue
			}
			doc.Components.SecuritySchemes[s.Name] = &openapi3.SecuritySchemeRef{Value: ks}
			g.byScheme[s.Name] = a
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g, nil
}

// schemeOf converts through JSON: guard's types marshal to OpenAPI 3.1.
func schemeOf(s guard.SecurityScheme) (*openapi3.SecurityScheme, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	ks := &openapi3.SecurityScheme{}
	return ks, json.Unmarshal(b, ks)
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// slot carries the principal out of an AuthenticationFunc, and into it
// what Middleware already learned, so no credential is verified twice.
type slot struct {
	p    *guard.Principal
	from guard.Authenticator
	// known: results of authenticators already asked, by index in auths.
	auths []guard.Authenticator
	ps    []*guard.Principal
	errs  []error
}

// authenticate asks a, or returns what a answered before in this request.
func (s *slot) authenticate(a guard.Authenticator, r *http.Request) (*guard.Principal, error) {
	if s != nil {
		if i := slices.Index(s.auths, a); i >= 0 {
			return s.ps[i], s.errs[i]
		}
	}
	p, err := a.Authenticate(r)
	if s != nil {
		s.auths, s.ps, s.errs = append(s.auths, a), append(s.ps, p), append(s.errs, err)
	}
	return p, err
}

type slotKey struct{}

// AuthenticationFunc implements openapi3filter.AuthenticationFunc: it
// authenticates the request with the guard authenticator describing
// input.SecuritySchemeName and requires input.Scopes of the principal. It
// returns nil on success (and puts the principal in ctx's slot, see
// [Guard.Slot]), or a *guard.Error (errors.As finds it): guard's 401, 400 or
// 503, or 403 insufficient_scope.
func (g *Guard) AuthenticationFunc(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	a, ok := g.byScheme[in.SecuritySchemeName]
	if !ok {
		return fmt.Errorf("guardkin: no guard authenticator describes scheme %q", in.SecuritySchemeName)
	}
	sl, _ := ctx.Value(slotKey{}).(*slot)
	p, err := sl.authenticate(a, in.RequestValidationInput.Request)
	if err != nil {
		return withChallenge(err, a)
	}
	if p == nil {
		return &guard.Error{Status: http.StatusInternalServerError, Code: "server_error", Err: errors.New("guardkin: authenticator returned no principal and no error")}
	}
	for _, s := range in.Scopes {
		if !p.HasScope(s) {
			return forbidden(a, in.Scopes)
		}
	}
	if sl != nil {
		sl.p, sl.from = p, a
	}
	return nil
}

func withChallenge(err error, a guard.Authenticator) *guard.Error {
	e := guard.ErrorOf(err)
	if e.Status == http.StatusUnauthorized && len(e.Challenges) == 0 {
		c := *e
		c.Challenges = []string{a.Challenge()}
		return &c
	}
	return e
}

func forbidden(a guard.Authenticator, need []string) *guard.Error {
	return &guard.Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "insufficient privileges",
		Scope: strings.Join(need, " "), Challenges: []string{a.Challenge()}, Err: guard.ErrInsufficientScope}
}

// Slot is middleware for apps that run kin-openapi's validation themselves:
// put it outside the validator, and the principal that
// [Guard.AuthenticationFunc] authenticates is found by [PrincipalFrom] in
// the handler's context.
func (g *Guard) Slot(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, &slot{})))
	})
}

// PrincipalFrom returns the principal authenticated for the request by
// [Guard.AuthenticationFunc] under [Guard.Slot], or the one guard's own
// middleware put in ctx. ok is false when there is none.
func PrincipalFrom(ctx context.Context) (*guard.Principal, bool) {
	if s, ok := ctx.Value(slotKey{}).(*slot); ok && s.p != nil {
		return s.p, true
	}
	return guard.PrincipalFrom(ctx)
}

// Middleware enforces the security of the operation router finds for each
// request (see [Guard.Require]); requests no route matches go to next
// unchanged. Each operation's security is compiled on its first request.
func (g *Guard) Middleware(router routers.Router) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		var handlers sync.Map // *openapi3.Operation -> http.Handler
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route, _, err := router.FindRoute(r)
			if err != nil {
				next.ServeHTTP(w, r)
				return
			}
			h, ok := handlers.Load(route.Operation)
			if !ok {
				h, _ = handlers.LoadOrStore(route.Operation, g.compile(route.Operation).handler(next))
			}
			h.(http.Handler).ServeHTTP(w, r)
		})
	}
}

// Require returns middleware enforcing op's security (op.Security, or the
// document's top-level Security when op has none), for apps that mount each
// operation's handler themselves, and calls next with the principal in
// guard's context ([guard.PrincipalFrom]). The alternatives are tried as
// guard's RequireAuth tries its authenticators: 401 with every challenge
// when no credentials of any are present (unless an empty requirement {}
// admits anonymous requests), 400 invalid_request for two kinds at once, the
// presented credential's 401 or 503, 403 insufficient_scope for a scope of
// the requirement or an x-guard-roles role the principal lacks. Failures
// are written by guard.WriteRequestError. It returns an error for a
// requirement naming a scheme no authenticator describes, or several
// schemes at once (AND).
func (g *Guard) Require(op *openapi3.Operation) (func(http.Handler) http.Handler, error) {
	p := g.compile(op)
	if p.bad != nil {
		return nil, p.bad
	}
	return p.handler, nil
}

// handler is next behind p. An operation that takes exactly one
// *guard.Verifier (no alternative, not optional) is served by guard's own
// chain, RequireBearer, RequireRole and RequireScope, which answer alike
// and cost what they cost on plain net/http.
func (p *policy) handler(next http.Handler) http.Handler {
	if v, ok := p.single().(*guard.Verifier); ok {
		h := next
		if len(p.scopes[0]) > 0 {
			h = guard.RequireScope(p.scopes[0]...)(h)
		}
		if len(p.roles) > 0 {
			h = guard.RequireRole(p.roles...)(h)
		}
		return v.RequireBearer(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, next) })
}

// single is the one authenticator of a policy that needs exactly one.
func (p *policy) single() guard.Authenticator {
	if p.public || p.optional || p.bad != nil || len(p.auths) != 1 {
		return nil
	}
	return p.auths[0]
}

// policy is an operation's security, compiled once.
type policy struct {
	public, optional bool
	auths            []guard.Authenticator
	scopes           [][]string // per auth
	roles            []string
	missing, ambig   *guard.Error
	bad              error // answered 500
}

func (g *Guard) compile(op *openapi3.Operation) *policy {
	p := &policy{roles: rolesOf(op)}
	security := g.doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	p.public = len(security) == 0
	for _, req := range security {
		switch len(req) {
		case 0:
			p.optional = true
			continue
		case 1:
		default:
			p.bad = errors.New("guardkin: a security requirement naming several schemes (AND) is not supported")
			continue
		}
		for name, scopes := range req {
			a, ok := g.byScheme[name]
			if !ok {
				p.bad = fmt.Errorf("guardkin: no guard authenticator describes scheme %q", name)
				continue
			}
			if i := slices.Index(p.auths, a); i >= 0 {
				if !slices.Equal(p.scopes[i], scopes) {
					p.bad = errors.New("guardkin: one authenticator's schemes need different scopes")
				}
				continue
			}
			p.auths = append(p.auths, a)
			p.scopes = append(p.scopes, slices.Clone(scopes))
		}
	}
	var challenges []string
	for _, a := range p.auths {
		challenges = append(challenges, a.Challenge())
	}
	p.missing = &guard.Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: challenges, Err: guard.ErrNoCredentials}
	p.ambig = &guard.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential", Challenges: challenges, Err: guard.ErrInvalidRequest}
	return p
}

func (p *policy) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if p.public {
		next.ServeHTTP(w, r)
		return
	}
	if p.bad != nil {
		guard.WriteRequestError(w, r, &guard.Error{Status: http.StatusInternalServerError, Code: "server_error", Err: p.bad})
		return
	}
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
		w.Header().Set("Cache-Control", "no-store")
	}
	switch {
	case present == 0 && p.optional:
		next.ServeHTTP(w, r)
		return
	case present == 0:
		guard.WriteRequestError(w, r, p.missing)
		return
	case present > 1:
		guard.WriteRequestError(w, r, p.ambig)
		return
	case foundErr != nil:
		guard.WriteRequestError(w, r, withChallenge(foundErr, p.auths[from]))
		return
	case found == nil:
		guard.WriteRequestError(w, r, &guard.Error{Status: http.StatusInternalServerError, Code: "server_error"})
		return
	}
	if len(p.roles) > 0 && !slices.ContainsFunc(p.roles, found.HasRole) {
		guard.WriteRequestError(w, r, forbidden(p.auths[from], p.roles))
		return
	}
	for _, s := range p.scopes[from] {
		if !found.HasScope(s) {
			guard.WriteRequestError(w, r, forbidden(p.auths[from], p.scopes[from]))
			return
		}
	}
	next.ServeHTTP(w, r.WithContext(guard.NewContext(r.Context(), found)))
}

// ErrorFor returns the *guard.Error to answer a failed kin-openapi
// validation with (for guard.WriteError): the error of the credential that
// was presented, or else the 401 of a missing one. A validation error with
// no guard error in it (a bad parameter, say) maps as guard.ErrorOf does.
func ErrorFor(err error) *guard.Error {
	var sre *openapi3filter.SecurityRequirementsError
	if !errors.As(err, &sre) {
		return guard.ErrorOf(err)
	}
	var first *guard.Error
	for _, e := range sre.Errors {
		var ge *guard.Error
		if !errors.As(e, &ge) {
			continue
		}
		if !errors.Is(ge, guard.ErrNoCredentials) {
			return ge
		}
		if first == nil {
			first = ge
		}
	}
	if first == nil {
		first = &guard.Error{Status: http.StatusInternalServerError, Code: "server_error", Err: err}
	}
	return first
}

func rolesOf(op *openapi3.Operation) []string {
	switch v := op.Extensions[RolesExtension].(type) {
	case []string:
		return v
	case []any:
		var roles []string
		for _, r := range v {
			if s, ok := r.(string); ok {
				roles = append(roles, s)
			}
		}
		return roles
	}
	return nil
}
