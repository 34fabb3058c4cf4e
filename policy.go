package guard

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// Policy is a route's guard chain as data, so that one value both enforces
// and describes it: authentication by any one of Authenticators (OR), then
// every one of Scopes and at least one of Roles. A nil or zero Policy
// guards nothing (a public route). A Policy must not be modified once
// handed to a [Registrar].
//
// OpenAPI: each scheme of each authenticator is one security requirement
// (alternatives) listing Scopes; Optional adds the empty requirement {}.
// OpenAPI has no field for roles: the roles that satisfy Roles (each of
// them, then those that imply one in the Authorizer's hierarchy) are listed
// in the operation's "x-guard-roles" extension (any one admits) and in a
// line of its description.
type Policy struct {
	// Authenticators are the accepted kinds of credentials (any one). A
	// single [*Verifier] enforces with RequireBearer, a single [*APIKeyAuth]
	// with RequireAPIKey; several with [RequireAuth].
	Authenticators []Authenticator
	// Optional admits requests without credentials, as [OptionalAuth] does.
	// It cannot be combined with Roles or Scopes.
	Optional bool
	// Scopes are all required, as by [RequireScope].
	Scopes []string
	// Roles: any one is required, as by [RequireRole].
	Roles []string
	// Authorizer checks Roles and Scopes; nil is the default one (no role
	// hierarchy).
	Authorizer *Authorizer
}

// Middleware returns the middleware that enforces p: authentication outside,
// then roles, then scopes; failures are answered as by [RequireAuth],
// [RequireRole] and [RequireScope]. A nil or zero Policy returns the identity.
// It panics on a wiring mistake: roles or scopes without an authenticator
// or with Optional, or an authenticator RequireAuth would refuse.
func (p *Policy) Middleware() func(http.Handler) http.Handler {
	if err := p.check(); err != nil {
		panic(err.Error())
	}
	if p == nil || len(p.Authenticators) == 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	var authn func(http.Handler) http.Handler
	switch a := unwrap(p.Authenticators[0]).(type) {
	case nil:
		authn = RequireAuth(p.Authenticators...) // panics: nil authenticator
	case *Verifier:
		authn = a.RequireBearer
	case *APIKeyAuth:
		authn = a.RequireAPIKey
	default:
		authn = RequireAuth(a)
	}
	switch {
	case p.Optional:
		authn = OptionalAuth(p.Authenticators...)
	case len(p.Authenticators) > 1:
		authn = RequireAuth(p.Authenticators...)
	}
	var roles, scopes func(http.Handler) http.Handler
	if len(p.Roles) > 0 {
		roles = p.Authorizer.RequireRole(p.Roles...)
	}
	if len(p.Scopes) > 0 {
		scopes = p.Authorizer.RequireScope(p.Scopes...)
	}
	return func(h http.Handler) http.Handler {
		if scopes != nil {
			h = scopes(h)
		}
		if roles != nil {
			h = roles(h)
		}
		return authn(h)
	}
}

// acceptedRoles are the roles that satisfy p.Roles: each of them, then the
// roles that imply one through the Authorizer's hierarchy.
func (p *Policy) acceptedRoles() []string {
	if p == nil || len(p.Roles) == 0 {
		return nil
	}
	a := p.Authorizer.orDefault()
	var accepted, implying []string
	for _, r := range p.Roles {
		if r != "" && !slices.Contains(accepted, r) {
			accepted = append(accepted, r)
		}
		implying = append(implying, a.impliedBy[r]...)
	}
	slices.Sort(implying)
	for _, r := range slices.Compact(implying) {
		if !slices.Contains(accepted, r) {
			accepted = append(accepted, r)
		}
	}
	return accepted
}

func (p *Policy) check() error {
	if p == nil {
		return nil
	}
	if len(p.Authenticators) == 0 && (len(p.Roles) > 0 || len(p.Scopes) > 0 || p.Optional) {
		return errors.New("guard: a Policy with Roles, Scopes or Optional needs an Authenticator")
	}
	if p.Optional && (len(p.Roles) > 0 || len(p.Scopes) > 0) {
		return errors.New("guard: a Policy cannot be Optional and require Roles or Scopes")
	}
	return nil
}

// Security returns what p enforces as OpenAPI security requirements (nil
// for a public route: no requirement at all) and the schemes they name. It
// reports, wrapping [ErrUndescribed], each authenticator that cannot
// describe itself, and any scheme that is not a valid Security Scheme Object.
func (p *Policy) Security() ([]SecurityRequirement, []NamedScheme, error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if p == nil || len(p.Authenticators) == 0 {
		return nil, nil, nil
	}
	var (
		reqs    []SecurityRequirement
		schemes []NamedScheme
		errs    []error
	)
	for i, a := range p.Authenticators {
		d, ok := a.(SecurityDescriber)
		var described []NamedScheme
		if ok {
			described = d.SecuritySchemes()
		}
		if len(described) == 0 {
			errs = append(errs, fmt.Errorf("%w: authenticator %d (%T); implement SecurityDescriber or wrap it with guard.Described", ErrUndescribed, i, a))
			continue
		}
		for _, s := range described {
			if err := s.Check(); err != nil {
				errs = append(errs, fmt.Errorf("guard: authenticator %d (%T): %w", i, a, err))
				continue
			}
			schemes = append(schemes, s)
			reqs = append(reqs, SecurityRequirement{s.Name: append([]string{}, p.Scopes...)})
		}
	}
	if p.Optional {
		reqs = append(reqs, SecurityRequirement{})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return reqs, schemes, nil
}
