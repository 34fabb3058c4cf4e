package guard

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// AuthorizerConfig configures an [Authorizer]. The zero value is valid: no
// role hierarchy, realm [DefaultRealm], [WriteError].
type AuthorizerConfig struct {
	// Implies is an optional role hierarchy: Implies["admin"] = {"user"} means
	// a principal with role admin also satisfies RequireRole("user"). It is
	// transitive; cycles are refused.
	Implies map[string][]string
	// Realm of the challenges in 401 and 403 responses. Default [DefaultRealm].
	Realm string
	// ErrorWriter writes failures. Default [WriteError].
	ErrorWriter ErrorWriter
}

// Authorizer builds role and scope middleware that share one role hierarchy
// and error writer. It is immutable and safe for concurrent use. The zero
// value (and a nil *Authorizer) is the default one, as built by
// NewAuthorizer(AuthorizerConfig{}): no hierarchy, realm [DefaultRealm],
// [WriteError]; like any Authorizer it denies without a principal (401) or
// without the role or scope (403).
type Authorizer struct {
	impliedBy   map[string][]string // role -> every role that implies it, itself included
	challenge   []string
	writeError  ErrorWriter
	noPrincipal *Error
}

// NewAuthorizer validates cfg; it refuses empty role names and cycles in Implies.
func NewAuthorizer(cfg AuthorizerConfig) (*Authorizer, error) {
	var errs []error
	for r, implied := range cfg.Implies {
		if r == "" || slices.Contains(implied, "") {
			errs = append(errs, errors.New("guard: empty role name in Implies"))
		}
	}
	// Reverse closure: for each role, all roles that reach it.
	impliedBy := map[string][]string{}
	roles := make([]string, 0, len(cfg.Implies))
	for r := range cfg.Implies {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, start := range roles {
		seen := map[string]bool{}
		stack := slices.Clone(cfg.Implies[start])
		for len(stack) > 0 {
			r := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if r == start {
				errs = append(errs, fmt.Errorf("guard: role %q implies itself through Implies", start))
				break
			}
			if seen[r] {
				continue
			}
			seen[r] = true
			impliedBy[r] = append(impliedBy[r], start)
			stack = append(stack, cfg.Implies[r]...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	realm := cfg.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	ch := []string{bearerChallenge(realm)}
	return &Authorizer{
		impliedBy:   impliedBy,
		challenge:   ch,
		writeError:  writerOrDefault(cfg.ErrorWriter),
		noPrincipal: prerender(&Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenges: ch, Err: ErrNoCredentials}),
	}, nil
}

var defaultAuthorizer, _ = NewAuthorizer(AuthorizerConfig{})

// RequireRole returns middleware that admits a request whose principal has at
// least one of roles (exact match; see [Authorizer] for a hierarchy).
// Without a principal in the context: 401 with a bare Bearer challenge.
// Without a role: 403 insufficient_scope with scope="<roles>". With no roles
// given it admits nobody. Put it inside an authentication middleware.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	return defaultAuthorizer.RequireRole(roles...)
}

// RequireScope returns middleware that admits a request whose principal was
// granted every one of scopes. Failures as for [RequireRole].
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	return defaultAuthorizer.RequireScope(scopes...)
}

// orDefault returns a, or the default Authorizer for a nil or zero one.
func (a *Authorizer) orDefault() *Authorizer {
	if a == nil || a.writeError == nil {
		return defaultAuthorizer
	}
	return a
}

// RequireRole is like the package-level [RequireRole], honouring the role hierarchy.
func (a *Authorizer) RequireRole(roles ...string) func(http.Handler) http.Handler {
	a = a.orDefault()
	// Every role that satisfies the requirement, computed once.
	var accepted []string
	for _, r := range roles {
		if r == "" {
			continue
		}
		accepted = append(accepted, r)
		accepted = append(accepted, a.impliedBy[r]...)
	}
	slices.Sort(accepted)
	accepted = slices.Compact(accepted)
	forbidden := a.forbidden(roles)
	return a.middleware(func(p *Principal) bool {
		for _, have := range p.Roles {
			if slices.Contains(accepted, have) {
				return true
			}
		}
		return false
	}, forbidden)
}

// RequireScope is like the package-level [RequireScope].
func (a *Authorizer) RequireScope(scopes ...string) func(http.Handler) http.Handler {
	a = a.orDefault()
	need := slices.Clone(scopes)
	forbidden := a.forbidden(scopes)
	return a.middleware(func(p *Principal) bool {
		if len(need) == 0 {
			return false
		}
		for _, s := range need {
			if s == "" || !slices.Contains(p.Scopes, s) {
				return false
			}
		}
		return true
	}, forbidden)
}

func (a *Authorizer) forbidden(required []string) *Error {
	return prerender(&Error{
		Status:      http.StatusForbidden,
		Code:        "insufficient_scope",
		Description: "insufficient privileges",
		Scope:       strings.Join(required, " "),
		Challenges:  a.challenge,
		Err:         ErrInsufficientScope,
	})
}

func (a *Authorizer) middleware(allowed func(*Principal) bool, forbidden *Error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			switch {
			case !ok:
				a.writeError(w, r, a.noPrincipal)
			case !allowed(p):
				a.writeError(w, r, forbidden)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}
