// Package guardogen backs an ogen-generated server's SecurityHandler with
// guard: each Handle<Scheme> method of the generated interface is one line
// that hands the credential ogen extracted to [Guard.Bearer] or
// [Guard.APIKey], which authenticate it with the guard authenticator that
// describes the scheme and return a context carrying the [guard.Principal]
// (guard.PrincipalFrom in the handler):
//
//	type security struct{ *guardogen.Guard }
//
//	func (s security) HandleHTTPBearer(ctx context.Context, op api.OperationName, t api.HTTPBearer) (context.Context, error) {
//		return s.Bearer(ctx, op, "HTTPBearer", t.Token, t.Roles)
//	}
//
//	srv, err := api.NewServer(handler, security{g}, api.WithErrorHandler(g.ErrorHandler))
//
// ogen passes the requirement's scopes as t.Roles; they are required of the
// principal (403 insufficient_scope). Roles, which OpenAPI cannot express,
// come from Config.Roles by operation name. The generated interface is the
// app's, so the one-line methods are too: ogen names them after the schemes.
package guardogen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/guardkit/guard"
	"github.com/ogen-go/ogen/ogenerrors"
)

// Config configures [New].
type Config struct {
	// Authenticators are the document's schemes, by the names they describe
	// ([guard.SecurityDescriber]). Required.
	Authenticators []guard.Authenticator
	// Roles are the roles each operation (by ogen's OperationName) needs one
	// of, such as the document's x-guard-roles. Default none.
	Roles map[string][]string
}

// Guard authenticates ogen's security requirements with guard. It is safe
// for concurrent use.
type Guard struct {
	byScheme   map[string]guard.Authenticator
	scheme     map[string]guard.SecurityScheme
	roles      map[string][]string
	challenges []string
	missing    *guard.Error
	ambiguous  *guard.Error
}

// New returns a Guard for cfg, or an error listing every problem: no
// authenticator, one that cannot describe itself ([guard.ErrUndescribed]),
// two different schemes under one name ([guard.ErrSchemeConflict]).
func New(cfg Config) (*Guard, error) {
	g := &Guard{byScheme: map[string]guard.Authenticator{}, scheme: map[string]guard.SecurityScheme{}, roles: map[string][]string{}}
	var errs []error
	if len(cfg.Authenticators) == 0 {
		errs = append(errs, errors.New("guardogen: Config.Authenticators is required"))
	}
	for i, a := range cfg.Authenticators {
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
			if prev, ok := g.scheme[s.Name]; ok && !reflect.DeepEqual(prev, s.Scheme) {
				errs = append(errs, fmt.Errorf("%w: %q", guard.ErrSchemeConflict, s.Name))
				continue
			}
			g.scheme[s.Name], g.byScheme[s.Name] = s.Scheme, a
		}
		g.challenges = append(g.challenges, a.Challenge())
	}
	for op, roles := range cfg.Roles {
		g.roles[op] = slices.Clone(roles)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g.missing = &guard.Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: g.challenges, Err: guard.ErrNoCredentials}
	g.ambiguous = &guard.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one credential", Challenges: g.challenges, Err: guard.ErrInvalidRequest}
	return g, nil
}

// Bearer authenticates the bearer token ogen found for scheme (an http
// bearer, oauth2 or openIdConnect scheme) and returns ctx carrying the
// principal, or a *guard.Error: the token's 401, 503, 400 when the request
// already authenticated with another scheme, 403 insufficient_scope when
// the principal lacks one of scopes or the operation's roles.
func (g *Guard) Bearer(ctx context.Context, operation, scheme, token string, scopes []string) (context.Context, error) {
	if v, ok := g.byScheme[scheme].(tokenAuthenticator); ok {
		// A *guard.Verifier checks the token itself: no request to build.
		if _, done := guard.PrincipalFrom(ctx); done {
			return nil, g.ambiguous
		}
		p, err := v.AuthenticateToken(ctx, token)
		return g.admit(ctx, operation, g.byScheme[scheme], scopes, p, err)
	}
	return g.authenticate(ctx, operation, scheme, scopes, func(r *http.Request) {
		r.Header = http.Header{"Authorization": {"Bearer " + token}}
	})
}

// tokenAuthenticator is implemented by *guard.Verifier.
type tokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (*guard.Principal, error)
}

// baseRequest is copied (WithContext) into the request an authenticator
// sees: GET /, with only the credential ogen extracted. Its URL is shared
// and read-only; query keys get their own.
var baseRequest = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}

// APIKey is [Guard.Bearer] for an apiKey scheme: key is what ogen read from
// the scheme's header, query parameter or cookie.
func (g *Guard) APIKey(ctx context.Context, operation, scheme, key string, scopes []string) (context.Context, error) {
	s := g.scheme[scheme]
	return g.authenticate(ctx, operation, scheme, scopes, func(r *http.Request) {
		r.Header = http.Header{}
		switch s.In {
		case "query":
			r.URL = &url.URL{Path: "/", RawQuery: url.QueryEscape(s.Name) + "=" + url.QueryEscape(key)}
		case "cookie":
			r.AddCookie(&http.Cookie{Name: s.Name, Value: key})
		default:
			r.Header.Set(s.Name, key)
		}
	})
}

func (g *Guard) authenticate(ctx context.Context, operation, scheme string, scopes []string, put func(*http.Request)) (context.Context, error) {
	a, ok := g.byScheme[scheme]
	if !ok {
		return nil, &guard.Error{Status: http.StatusInternalServerError, Code: "server_error",
			Err: fmt.Errorf("guardogen: no guard authenticator describes scheme %q", scheme)}
	}
	if _, done := guard.PrincipalFrom(ctx); done {
		return nil, g.ambiguous // ogen tried another scheme first, and it succeeded
	}
	r := baseRequest.WithContext(ctx)
	put(r)
	p, err := a.Authenticate(r)
	return g.admit(ctx, operation, a, scopes, p, err)
}

// admit turns an authenticator's answer into ogen's: ctx with the
// principal, or guard's error.
func (g *Guard) admit(ctx context.Context, operation string, a guard.Authenticator, scopes []string, p *guard.Principal, err error) (context.Context, error) {
	if errors.Is(err, guard.ErrNoCredentials) {
		return nil, g.missing
	}
	if err != nil {
		e := guard.ErrorOf(err)
		if e.Status == http.StatusUnauthorized && len(e.Challenges) == 0 {
			c := *e
			c.Challenges = []string{a.Challenge()}
			e = &c
		}
		return nil, e
	}
	if p == nil {
		return nil, &guard.Error{Status: http.StatusInternalServerError, Code: "server_error"}
	}
	if roles := g.roles[operation]; len(roles) > 0 && !slices.ContainsFunc(roles, p.HasRole) {
		return nil, forbidden(a, roles)
	}
	for _, s := range scopes {
		if !p.HasScope(s) {
			return nil, forbidden(a, scopes)
		}
	}
	return guard.NewContext(ctx, p), nil
}

func forbidden(a guard.Authenticator, need []string) *guard.Error {
	return &guard.Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "insufficient privileges",
		Scope: strings.Join(need, " "), Challenges: []string{a.Challenge()}, Err: guard.ErrInsufficientScope}
}

// ErrorHandler is an ogen ErrorHandler (ogen's WithErrorHandler) that
// answers security failures as guard does: the *guard.Error of
// [Guard.Bearer] or [Guard.APIKey] by guard.WriteRequestError, and ogen's
// "no requirement satisfied" as 401 with every authenticator's challenge.
// Other errors go to ogen's DefaultErrorHandler.
func (g *Guard) ErrorHandler(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	var ge *guard.Error
	switch {
	case errors.As(err, &ge):
		guard.WriteRequestError(w, r, ge)
	case errors.Is(err, ogenerrors.ErrSecurityRequirementIsNotSatisfied):
		guard.WriteRequestError(w, r, g.missing)
	default:
		ogenerrors.DefaultErrorHandler(ctx, w, r, err)
	}
}
