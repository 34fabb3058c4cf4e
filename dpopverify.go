package guard

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/guardkit/guard/internal/syntax"
)

// DPoPMode says which tokens a [Verifier] with DPoP admits (VerifierConfig.DPoPMode).
type DPoPMode uint8

const (
	// DPoPAllowed, the default: unbound tokens as Bearer, DPoP-bound tokens
	// as DPoP with a proof; 401s challenge with both schemes.
	DPoPAllowed DPoPMode = iota
	// DPoPRequired: only DPoP-bound tokens, as DPoP with a proof; 401s
	// challenge with DPoP alone.
	DPoPRequired
)

// errBoundAsBearer: a token with a cnf was presented as a bearer token.
var errBoundAsBearer = errors.New("guard: sender-constrained token presented as bearer")

// errNotBound: a token without cnf.jkt was presented with the DPoP scheme.
var errNotBound = errors.New("guard: token presented with DPoP is not DPoP-bound")

// errDPoPRequired: a bearer token where only DPoP-bound tokens are admitted.
var errDPoPRequired = errors.New("guard: DPoP-bound token required")

// dpopVerifier is a Verifier's DPoP side.
type dpopVerifier struct {
	d    *DPoP
	mode DPoPMode
	// both challenges with Bearer and DPoP (DPoPAllowed); only with DPoP
	// alone (DPoPRequired, and RequireDPoP).
	both, only *dpopErrors
}

// dpopErrors are the errors of DPoP-presented requests, with one set of
// challenges; error parameters go on the DPoP challenge.
type dpopErrors struct {
	challenges                    []string
	proof                         [numProofFaults]*Error
	noCredentials, invalidRequest *Error
	twoCredentials, notBound      *Error
	bearer                        *Error // a Bearer token where DPoP is required
}

func newDPoPErrors(challenges []string) *dpopErrors {
	e := &dpopErrors{challenges: challenges}
	for f := range e.proof {
		e.proof[f] = proofError(proofFault(f), challenges)
	}
	mk := func(status int, code, desc string, cause error) *Error {
		return prerender(&Error{Status: status, Code: code, Description: desc, Challenges: challenges, Err: cause, paramScheme: "DPoP"})
	}
	e.noCredentials = mk(http.StatusUnauthorized, "", "authentication required", ErrNoCredentials)
	e.invalidRequest = mk(http.StatusBadRequest, "invalid_request", "malformed Authorization header", nil)
	e.twoCredentials = mk(http.StatusBadRequest, "invalid_request", "more than one credential", nil)
	e.notBound = mk(http.StatusUnauthorized, "invalid_token", "token is not DPoP-bound", errNotBound)
	e.bearer = mk(http.StatusUnauthorized, "invalid_token", "DPoP-bound token required", errDPoPRequired)
	return e
}

// convert gives a token error of the Verifier (built for its bearer
// challenges) the DPoP shape: the same status, code and description, with
// these challenges and the parameters on the DPoP one. Errors without
// challenges (503) pass unchanged.
func (e *dpopErrors) convert(err error) error {
	var ve *Error
	if !errors.As(err, &ve) || len(ve.Challenges) == 0 {
		return err
	}
	c := *ve
	c.Challenges, c.paramScheme, c.rendered = e.challenges, "DPoP", nil
	return &c
}

// checkDPoPConfig reports the problems of the DPoP fields of cfg.
func checkDPoPConfig(cfg *VerifierConfig) []error {
	var errs []error
	if cfg.DPoPMode > DPoPRequired {
		errs = append(errs, fmt.Errorf("guard: VerifierConfig.DPoPMode %d is unknown", cfg.DPoPMode))
	}
	if cfg.DPoPMode == DPoPRequired && cfg.DPoP == nil {
		errs = append(errs, errors.New("guard: VerifierConfig.DPoPMode is DPoPRequired but DPoP is nil"))
	}
	if cfg.DPoP != nil && cfg.DPoP.now == nil {
		errs = append(errs, errors.New("guard: VerifierConfig.DPoP was not built by NewDPoP"))
	}
	if cfg.ResourceMetadata != "" {
		if err := checkMetadataURL(cfg.ResourceMetadata); err != nil {
			errs = append(errs, fmt.Errorf("guard: VerifierConfig.ResourceMetadata: %w", err))
		} else if !syntax.IsQuotable(cfg.ResourceMetadata) {
			errs = append(errs, errors.New("guard: VerifierConfig.ResourceMetadata has characters a challenge cannot quote"))
		}
	}
	return errs
}

// setDPoP builds the challenges of the verifier's errors and its DPoP side.
// It returns the challenges and the scheme that gets error parameters.
func (v *Verifier) setDPoP(cfg *VerifierConfig, realm string) (challenges []string, scheme string) {
	var meta string
	if cfg.ResourceMetadata != "" {
		var b strings.Builder
		b.WriteString(`, resource_metadata="`)
		syntax.WriteQuotedSafe(&b, cfg.ResourceMetadata)
		b.WriteByte('"')
		meta = b.String()
	}
	bearer := bearerChallenge(realm) + meta
	if cfg.DPoP == nil {
		return []string{bearer}, ""
	}
	dpop := `DPoP algs="` + cfg.DPoP.algNames + `"` + meta
	v.dpop = &dpopVerifier{d: cfg.DPoP, mode: cfg.DPoPMode,
		both: newDPoPErrors([]string{bearer, dpop}), only: newDPoPErrors([]string{dpop})}
	if cfg.DPoPMode == DPoPRequired {
		return v.dpop.only.challenges, "DPoP"
	}
	return v.dpop.both.challenges, ""
}

// authenticate handles the requests that are the DPoP side's: those with
// the DPoP scheme, and every request when mode is DPoPRequired. done is
// false for the others (Bearer, or no credentials, in DPoPAllowed mode),
// which take the bearer path.
func (dv *dpopVerifier) authenticate(v *Verifier, r *http.Request, mode DPoPMode) (_ *principalCtx, _ error, done bool) {
	errs := dv.both
	if mode == DPoPRequired {
		errs = dv.only
	}
	h := r.Header["Authorization"]
	if len(h) > 1 {
		return nil, errs.twoCredentials, true
	}
	var token string
	if len(h) == 1 {
		t, st := parseScheme(h[0], "DPoP")
		switch st {
		case bearerMalformed:
			return nil, errs.invalidRequest, true
		case bearerOK:
			token = t
		}
	}
	if token == "" {
		if mode != DPoPRequired {
			return nil, nil, false
		}
		if len(h) == 1 {
			if _, st := parseBearer(h[0]); st != bearerAbsent {
				return nil, errs.bearer, true
			}
		}
		return nil, errs.noCredentials, true
	}
	pc, err := v.verifyAndCheck(r.Context(), token)
	if err != nil {
		return nil, errs.convert(err), true
	}
	cnf := pc.c.Confirmation
	if cnf == nil || cnf.JKT == "" {
		return nil, errs.notBound, true
	}
	proof, f, cause := dv.d.check(r, token, cnf.JKT)
	if f != faultNone {
		return nil, dv.d.failure(&errs.proof, f, cause), true
	}
	pc.Context = r.Context()
	pc.p = Principal{Subject: pc.c.Subject, Roles: pc.c.Roles, Scopes: pc.c.Scopes, Method: MethodBearer, Claims: &pc.c,
		Binding: BindingDPoP, KeyThumbprint: proof.Thumbprint}
	return pc, nil, true
}

// parseScheme is parseBearer for another scheme: token68 credentials
// (RFC 9110 §11.4), as RFC 9449 §7.1 gives the DPoP scheme.
func parseScheme(h, scheme string) (string, bearerStatus) {
	t, st := cutScheme(h, scheme)
	if st == bearerOK && !isB64Token(t) {
		return "", bearerMalformed
	}
	return t, st
}

// RequireDPoP returns middleware like [Verifier.RequireBearer] that admits
// only DPoP-bound tokens presented with "Authorization: DPoP <token>" and a
// valid proof (RFC 9449 §7), whatever the verifier's DPoPMode; its 401s
// challenge with DPoP alone. The principal has Binding [BindingDPoP] and
// the key's thumbprint. Failures, written by the ErrorWriter:
//   - no credentials: 401 with a bare DPoP challenge;
//   - a Bearer token: 401 invalid_token;
//   - a token that does not verify, or has no cnf.jkt: 401 invalid_token;
//   - a missing, malformed, mismatched (htm, htu, ath), stale or replayed
//     proof: 401 invalid_dpop_proof; a proof by another key than cnf.jkt
//     names: 401 invalid_token; a missing or stale nonce: 401
//     use_dpop_nonce with a DPoP-Nonce header;
//   - the replay cache failing: 503 temporarily_unavailable (fail closed).
//
// All DPoP challenges carry algs="…". RequireDPoP panics, when called, if
// the verifier has no DPoP (VerifierConfig.DPoP is nil): a wiring mistake.
func (v *Verifier) RequireDPoP(next http.Handler) http.Handler {
	if v != nil && v.now != nil && v.dpop == nil {
		panic("guard: RequireDPoP on a Verifier without VerifierConfig.DPoP")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v == nil || v.now == nil {
			WriteError(w, r, errZeroVerifier)
			return
		}
		pc, err, _ := v.dpop.authenticate(v, r, DPoPRequired)
		if err != nil {
			Audit(r, AuthEvent{Method: MethodBearer, Err: err})
			v.writeError(w, r, err)
			return
		}
		Audit(r, AuthEvent{Method: MethodBearer, Subject: pc.p.Subject, Principal: &pc.p})
		trackPrincipal(r, &pc.p)
		next.ServeHTTP(w, r.WithContext(pc))
	})
}
