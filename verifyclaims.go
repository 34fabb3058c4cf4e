package guard

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/guardkit/guard/internal/claimsjson"
)

// checkClaims decodes the payload segment, signed by k, into the claims of
// a new principalCtx and applies the claim rules. The decoded payload lives
// in the principalCtx's own allocation and the claims' strings are views of
// it (see newPrincipalCtx). When e is not nil, the token is about to enter
// the cache: the payload then gets an allocation of its own, so the entry
// that shares its strings keeps no request's principalCtx alive, and e
// also receives the time claims. A cache hit needs no issuer check again:
// the entry is keyed by the whole token, so its iss and its key are the ones
// checked here.
func (v *Verifier) checkClaims(seg string, k *Key, e *cachedToken) (*principalCtx, error) {
	var (
		pc  *principalCtx
		raw []byte
	)
	if e == nil {
		pc, raw = newPrincipalCtx(b64.DecodedLen(len(seg)))
	} else {
		pc, raw = new(principalCtx), make([]byte, b64.DecodedLen(len(seg)))
	}
	n, err := b64.Decode(raw, bytesOf(seg))
	if err != nil {
		return nil, v.errs.malformed
	}
	var w claimsjson.Wire
	w.StoreLoneAudience(&pc.c.oneAud)
	// raw is written once, above, and never again: the claims' strings may
	// point into it.
	if err := claimsjson.DecodeString(unsafe.String(unsafe.SliceData(raw), n), &w); err != nil {
		return nil, v.errs.claims
	}
	if err := v.checkTimes(w.Exp, w.Nbf, w.Iat); err != nil {
		return nil, err
	}
	if len(v.issuers) > 0 && !slices.Contains(v.issuers, w.Iss) {
		return nil, v.errs.issuer.withCause(mismatch(ErrInvalidIssuer, "iss", []string{w.Iss}, w.Iss != "", v.issuers, ""))
	}
	if !k.signsFor(w.Iss) {
		return nil, v.errs.issuer.withCause(mismatch(ErrInvalidIssuer, "iss", []string{w.Iss}, w.Iss != "", k.issuers,
			fmt.Sprintf(" (the issuers of key kid %q)", k.kid)))
	}
	if len(v.audiences) > 0 && !slices.ContainsFunc(w.Aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, v.errs.audience.withCause(mismatch(ErrInvalidAudience, "aud", w.Aud, len(w.Aud) > 0, v.audiences, ""))
	}
	if w.Sub == "" {
		return nil, v.errs.missingSub
	}
	pc.c.fill(&w)
	if e != nil {
		e.exp, e.nbf, e.iat = w.Exp, w.Nbf, w.Iat
	}
	return pc, nil
}

// checkTimes applies exp (required), nbf and iat with the leeway, and the
// lifetime cap: exp at most maxLife (plus the leeway, for clock skew) ahead
// of now, and exp - iat at most maxLife (both from the issuer's clock, so
// without leeway).
func (v *Verifier) checkTimes(expDate, nbfDate, iatDate claimsjson.NumericDate) error {
	now := v.now()
	nowSec := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	lee := v.leeway.Seconds()
	exp, hasExp := expDate.Seconds()
	nbf, hasNbf := nbfDate.Seconds()
	iat, hasIat := iatDate.Seconds()
	if !hasExp {
		return v.errs.missingExp
	}
	if nowSec >= exp+lee {
		return v.errs.expired
	}
	if exp-nowSec > v.maxLife+lee || hasIat && exp-iat > v.maxLife {
		return v.errs.lifetime
	}
	if hasNbf && nowSec+lee < nbf {
		return v.errs.notYet
	}
	// iat is compared at its whole second: guard's issuer writes it to the
	// millisecond (so that a subject revocation cannot refuse a token issued
	// after it), and a verifier whose clock is a few milliseconds behind the
	// issuer's must not refuse a fresh token for that, with no leeway set.
	if hasIat && nowSec+lee < math.Floor(iat) {
		return v.errs.issued
	}
	return nil
}

// mismatch is the cause of a refused iss or aud, for logs: the values the
// token has (capped) and those accepted, as in
// `got iss "X", want one of ["A" "B"]`. It never reaches the response.
// It is built only on the failure path, so the success path stays without
// allocations.
func mismatch(sentinel error, claim string, got []string, present bool, want []string, note string) error {
	var b strings.Builder
	b.WriteString("got ")
	switch {
	case !present:
		b.WriteString("no " + claim)
	case claim == "iss":
		b.WriteString("iss ")
		writeQuotedClaim(&b, got[0])
	default:
		b.WriteString(claim + " [")
		for i, s := range got[:min(len(got), maxQuotedClaimValues)] {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeQuotedClaim(&b, s)
		}
		if n := len(got) - maxQuotedClaimValues; n > 0 {
			fmt.Fprintf(&b, " …%d more", n)
		}
		b.WriteByte(']')
	}
	return fmt.Errorf("%w: %s, want one of %q%s", sentinel, b.String(), want, note)
}

// writeQuotedClaim writes s Go-quoted, cut to maxQuotedClaimBytes, with "…"
// after a cut.
func writeQuotedClaim(b *strings.Builder, s string) {
	if len(s) <= maxQuotedClaimBytes {
		b.WriteString(strconv.Quote(s))
		return
	}
	b.WriteString(strconv.Quote(s[:maxQuotedClaimBytes]))
	b.WriteString("…")
}

// Caps on what a mismatch error quotes of a token's claim, so a hostile
// token cannot make log lines of its own size.
const (
	maxQuotedClaimBytes  = 256
	maxQuotedClaimValues = 8
)
