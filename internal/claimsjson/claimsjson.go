// Package claimsjson is the JSON form of a JWT claims set: the wire struct
// [Wire] that guard's verifier decodes into and its issuer marshals, its
// field types, the registered claim names, and [Decode], a strict
// hand-written decoder (decode.go) that FuzzDecodeClaims proves equivalent
// to JSON v2 unmarshalling into Wire.
//
// It lives apart from package guard so that guard reads like the API it is
// (Claims) and the parser sits beside its fuzz target.
package claimsjson

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Registered are the claim names with a field in guard's Claims, in the
// order of Wire's fields and of the decoder's seen bits. The issuer writes
// them from those fields, so Claims.Extra and ExtraClaims may not use them,
// even when the field is empty.
var Registered = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "role", "roles", "scope", "scp", "cnf"}

// IsRegistered reports whether name could be read as one of [Registered]
// by a decoder that matches member names loosely: in any letter case
// (Unicode simple folding, as encoding/json and golang-jwt's
// RegisteredClaims do) and ignoring '_' and '-' (as JSON v2's
// case-insensitive mode does). So "Sub", "EXP", "ſub" and "clientId" are
// registered names too: an extra claim under one of them would be read as
// the real claim by such a decoder.
func IsRegistered(name string) bool {
	loose := strings.NewReplacer("_", "", "-", "").Replace(name)
	return slices.ContainsFunc(Registered[:], func(r string) bool {
		return strings.EqualFold(loose, strings.ReplaceAll(r, "_", ""))
	})
}

// Wire is the JSON shape of a claims set: the [Registered] claims, in
// their order, then the rest.
type Wire struct {
	Iss      string         `json:"iss,omitzero"`
	Sub      string         `json:"sub,omitzero"`
	Aud      Audience       `json:"aud,omitzero"`
	Exp      NumericDate    `json:"exp,omitzero"`
	Nbf      NumericDate    `json:"nbf,omitzero"`
	Iat      NumericDate    `json:"iat,omitzero"`
	Jti      string         `json:"jti,omitzero"`
	ClientID string         `json:"client_id,omitzero"`
	Role     LenientString  `json:"role,omitzero"`
	Roles    LenientStrings `json:"roles,omitzero"`
	Scope    LenientString  `json:"scope,omitzero"`
	Scp      LenientStrings `json:"scp,omitzero"`
	Cnf      Confirmation   `json:"cnf,omitzero"`
	Extra    jsontext.Value `json:",embed"`

	// audStore, when set, holds a lone "aud" string (StoreLoneAudience).
	audStore *[1]string
}

// StoreLoneAudience makes a decoding into w keep a lone "aud" string (one
// that is not an array) in *p, with w.Aud the slice p[:], instead of in a
// new slice; so the caller's value (guard's Claims) holds it. Call it on a
// zero Wire, before [Decode] or [DecodeString].
func (w *Wire) StoreLoneAudience(p *[1]string) { w.audStore = p }

// NumericDate is a JSON number of seconds since the epoch (RFC 7519 §2). Any
// other JSON type, including a numeric string, is an error. The zero value
// is an absent claim.
type NumericDate struct {
	sec float64
	set bool
}

// DateOf returns the NumericDate of t in whole seconds; the zero time gives
// an absent claim.
func DateOf(t time.Time) NumericDate {
	if t.IsZero() {
		return NumericDate{}
	}
	return NumericDate{sec: float64(t.Unix()), set: true}
}

// MarshalJSONTo writes d as whole seconds, which every JWT library reads
// (PyJWT, for one, refuses an iat with a fraction as from the future
// within its second).
func (d NumericDate) MarshalJSONTo(enc *jsontext.Encoder) error {
	return enc.WriteToken(jsontext.Int(int64(d.sec)))
}

// IsZero reports whether the claim is absent.
func (d NumericDate) IsZero() bool { return !d.set }

// Seconds returns the claim's seconds since the epoch and whether it is
// present (0, false when absent).
func (d NumericDate) Seconds() (sec float64, ok bool) { return d.sec, d.set }

// Time returns the claim as a UTC time, clamped far in the future or the
// past when out of range; the zero time when absent.
func (d NumericDate) Time() time.Time {
	if !d.set {
		return time.Time{}
	}
	sec, frac := math.Modf(d.sec)
	if sec > math.MaxInt64/2 || sec < math.MinInt64/2 {
		sec = math.Copysign(math.MaxInt64/2, sec)
		frac = 0
	}
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// Audience is "aud": a string or an array of strings (RFC 7519 §4.1.3).
type Audience []string

// MarshalJSONTo writes one audience as a string, more as an array.
func (a Audience) MarshalJSONTo(enc *jsontext.Encoder) error {
	if len(a) == 1 {
		return enc.WriteToken(jsontext.String(a[0]))
	}
	return json.MarshalEncode(enc, []string(a))
}

// LenientString is a claim that counts only when it is a JSON string; any
// other type is skipped and grants nothing (never coerced).
type LenientString string

// LenientStrings is a claim that counts only when it is an array of strings.
type LenientStrings []string

// Confirmation is "cnf" (RFC 7800 §3.1): a JSON object of confirmation
// methods. Only "jkt" (RFC 9449 §6.1, a string) is read; other members are
// validated and skipped, but still make the claim present, so a token bound
// by a method guard does not check (such as mTLS's "x5t#S256") is known to be
// bound. A cnf that is not an object, or a jkt that is not a string, is an
// error ([ErrConfirmation]). The zero value is an absent claim.
type Confirmation struct {
	JKT string
	set bool
}

// Present reports whether the claims set had a "cnf" member.
func (c Confirmation) Present() bool { return c.set }

// ConfirmationJKT returns a present cnf holding only jkt, for issuing.
func ConfirmationJKT(jkt string) Confirmation { return Confirmation{JKT: jkt, set: true} }

// IsZero reports whether the claim is absent (for omitzero).
func (c Confirmation) IsZero() bool { return !c.set }

// MarshalJSONTo writes {"jkt":…}.
func (c Confirmation) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return err
	}
	if c.JKT != "" {
		if err := enc.WriteToken(jsontext.String("jkt")); err != nil {
			return err
		}
		if err := enc.WriteToken(jsontext.String(c.JKT)); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndObject)
}
