package authserver

import (
	"slices"
	"strings"

	"github.com/guardkit/guard/internal/syntax"
)

// parseScope splits a scope parameter (RFC 6749 §3.3: scope-tokens of
// NQCHAR separated by single spaces).
func parseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	list := strings.Split(s, " ")
	for _, tok := range list {
		if !syntax.IsScopeToken(tok) { // also refuses "" from a doubled space
			return nil, errTokenScope
		}
	}
	return list, nil
}

// grantScopes: requested ⊆ allowed, else invalid_scope; nothing requested
// means everything allowed.
func grantScopes(requested, allowed []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(allowed), nil
	}
	var granted []string
	for _, s := range requested {
		if !slices.Contains(allowed, s) {
			return nil, errTokenScope
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, nil
}

// intersect returns the members of a that b holds, in a's order.
func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// sameSet reports whether granted, a subset of requested without duplicates
// (as grantScopes makes it), is all of requested.
func sameSet(requested, granted []string) bool {
	if len(requested) != len(granted) {
		return false
	}
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
}
