package guard

import (
	"errors"
	"net/http"
)

// proofFault is why a DPoP proof was refused.
type proofFault uint8

const (
	faultNone proofFault = iota
	faultMissing
	faultMultiple
	faultTooLarge
	faultMalformed
	faultTyp
	faultAlg
	faultJWK
	faultSignature
	faultClaims
	faultJTI
	faultMethod
	faultURL
	faultOld
	faultFuture
	faultATH
	faultReplay
	faultBinding // the proof's key is not the one the token is bound to
	faultNonce   // use_dpop_nonce
	faultStore   // the replay cache failed: 503
	numProofFaults
)

// Causes of refused proofs, kept in Error.Err for logs and tests.
var (
	errDPoPMissing   = errors.New("guard: no DPoP proof")
	errDPoPMultiple  = errors.New("guard: more than one DPoP header")
	errDPoPTooLarge  = errors.New("guard: DPoP proof too large")
	errDPoPMalformed = errors.New("guard: malformed DPoP proof")
	errDPoPTyp       = errors.New(`guard: DPoP proof typ is not "dpop+jwt"`)
	errDPoPAlg       = errors.New("guard: DPoP proof algorithm not allowed")
	errDPoPJWK       = errors.New("guard: DPoP proof jwk is not an acceptable public key")
	errDPoPSignature = errors.New("guard: DPoP proof signature does not verify")
	errDPoPClaims    = errors.New("guard: DPoP proof lacks jti, htm, htu or iat")
	errDPoPJTI       = errors.New("guard: DPoP proof jti too long")
	errDPoPMethod    = errors.New("guard: DPoP proof htm does not match the request method")
	errDPoPURL       = errors.New("guard: DPoP proof htu does not match the request URL")
	errDPoPOld       = errors.New("guard: DPoP proof too old")
	errDPoPFuture    = errors.New("guard: DPoP proof issued in the future")
	errDPoPATH       = errors.New("guard: DPoP proof ath does not match the access token")
	errDPoPReplay    = errors.New("guard: DPoP proof replayed")
	errDPoPBinding   = errors.New("guard: DPoP proof key is not the key the token is bound to")
)

// proofFaults are each fault's description (safe for clients) and cause.
var proofFaults = [numProofFaults]struct {
	desc  string
	cause error
}{
	faultMissing:   {"DPoP proof required", errDPoPMissing},
	faultMultiple:  {"more than one DPoP proof", errDPoPMultiple},
	faultTooLarge:  {"DPoP proof too large", errDPoPTooLarge},
	faultMalformed: {"malformed DPoP proof", errDPoPMalformed},
	faultTyp:       {"DPoP proof type not accepted", errDPoPTyp},
	faultAlg:       {"DPoP proof algorithm not allowed", errDPoPAlg},
	faultJWK:       {"DPoP proof key not acceptable", errDPoPJWK},
	faultSignature: {"invalid DPoP proof signature", errDPoPSignature},
	faultClaims:    {"DPoP proof claims missing", errDPoPClaims},
	faultJTI:       {"DPoP proof jti too long", errDPoPJTI},
	faultMethod:    {"DPoP proof method mismatch", errDPoPMethod},
	faultURL:       {"DPoP proof URL mismatch", errDPoPURL},
	faultOld:       {"DPoP proof too old", errDPoPOld},
	faultFuture:    {"DPoP proof issued in the future", errDPoPFuture},
	faultATH:       {"DPoP proof access token hash mismatch", errDPoPATH},
	faultReplay:    {"DPoP proof replayed", errDPoPReplay},
	faultBinding:   {"invalid DPoP key binding", errDPoPBinding},
	faultNonce:     {"DPoP nonce required", nil},
}

// proofError builds the error of fault f. With challenges nil it has the
// token endpoint's shape (400, RFC 9449 §5); with challenges, the resource
// server's (401 with the error on the DPoP challenge, RFC 9449 §7.1), where
// a key binding mismatch is invalid_token.
func proofError(f proofFault, challenges []string) *Error {
	pf := proofFaults[f]
	e := &Error{Status: http.StatusBadRequest, Code: "invalid_dpop_proof", Description: pf.desc, Err: pf.cause}
	switch f {
	case faultNone, faultStore:
		return nil // never used: success, and Unavailable
	case faultNonce:
		e.Code = "use_dpop_nonce"
	case faultBinding:
		e.Code = "invalid_token"
	}
	if challenges != nil {
		e.Status, e.Challenges, e.paramScheme = http.StatusUnauthorized, challenges, "DPoP"
	}
	return prerender(e)
}

// dpopNonceError carries the fresh nonce of a use_dpop_nonce error.
type dpopNonceError struct{ nonce string }

func (e *dpopNonceError) Error() string { return "guard: DPoP nonce required" }

func (e *dpopNonceError) Is(target error) bool { return target == ErrUseDPoPNonce }

// DPoPNonce returns the nonce that goes in the DPoP-Nonce header with a
// use_dpop_nonce error (an error matching [ErrUseDPoPNonce] from
// [DPoP.Check] or a [Verifier]); ok is false for any other error.
// [WriteError] sends it itself; a custom [ErrorWriter] sets it:
//
//	if n, ok := guard.DPoPNonce(err); ok {
//		w.Header().Set("DPoP-Nonce", n)
//	}
func DPoPNonce(err error) (nonce string, ok bool) {
	var e *dpopNonceError
	if errors.As(err, &e) {
		return e.nonce, true
	}
	return "", false
}
