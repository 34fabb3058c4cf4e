package claimsjson

import (
	"math"

	"github.com/go-json-experiment/json/jsontext"
)

// The reference decoding of claims through JSON v2: FuzzDecodeClaims checks
// that the hand-written decoder (decode.go) accepts exactly what JSON v2
// unmarshalling into Wire with these methods accepts, with the same values.
// Production code never decodes claims this way.

func (d *NumericDate) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '0' {
		return ErrNumericDate
	}
	f, err := tok.Float()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return ErrNumericDate
	}
	d.sec, d.set = f, true
	return nil
}

func (a *Audience) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*a = Audience{tok.String()}
		return nil
	case '[':
		list, ok, err := readStrings(dec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrAudience
		}
		*a = list
		return nil
	}
	return ErrAudience
}

func (s *LenientString) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '"' {
		*s = ""
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	*s = LenientString(tok.String())
	return nil
}

func (s *LenientStrings) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '[' {
		*s = nil
		return dec.SkipValue()
	}
	list, ok, err := readStrings(dec)
	if err != nil {
		return err
	}
	if !ok {
		list = nil
	}
	*s = list
	return nil
}

// readStrings reads a JSON array; ok is false when an element is not a string
// (the array is still consumed).
func readStrings(dec *jsontext.Decoder) (list []string, ok bool, err error) {
	if _, err := dec.ReadToken(); err != nil { // '['
		return nil, false, err
	}
	ok = true
	for {
		switch dec.PeekKind() {
		case ']':
			_, err := dec.ReadToken()
			return list, ok, err
		case '"':
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, false, err
			}
			list = append(list, tok.String())
		default:
			ok = false
			if err := dec.SkipValue(); err != nil {
				return nil, false, err
			}
		}
	}
}

func (c *Confirmation) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return err
		}
		return ErrConfirmation
	}
	if _, err := dec.ReadToken(); err != nil { // '{'
		return err
	}
	got := Confirmation{set: true}
	var typeErr error
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String()
		if name == "jkt" && dec.PeekKind() == '"' {
			v, err := dec.ReadToken()
			if err != nil {
				return err
			}
			got.JKT = v.String()
			continue
		}
		if name == "jkt" {
			typeErr = ErrConfirmation
		}
		if err := dec.SkipValue(); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return err
	}
	if typeErr != nil {
		return typeErr
	}
	*c = got
	return nil
}
