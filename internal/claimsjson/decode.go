package claimsjson

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written decoder for JWT claims sets. It gives the guarantees
// RFC 7519 asks of a claims parser, which encoding/json does not: names
// match exactly (§7.3, "ROLE" is not "role"), a duplicate name anywhere is
// an error (§4), invalid UTF-8 and lone surrogates are errors, and nothing
// follows the object. It is a strict RFC 8259 parser besides. It decodes in
// one pass, without reflection, over a string, and takes every unescaped
// claim string as a substring of it: given the payload as a string whose
// memory the caller owns ([DecodeString]), a typical claims set costs no
// allocation.
//
// FuzzDecodeClaims proves it equivalent to github.com/go-json-experiment/json
// (JSON v2, strict by default) unmarshalling into Wire with the reference
// methods of reference_test.go: the same inputs are accepted, with the same
// values.

// ErrSyntax is Decode's error for malformed JSON, a duplicate name, or
// anything after the object.
var ErrSyntax = errors.New("guard: malformed claims JSON")

// ErrNumericDate is Decode's error for an exp, nbf or iat that is not a
// JSON number within the range of a float64.
var ErrNumericDate error = &jsonTypeError{"NumericDate must be a JSON number"}

// ErrAudience is Decode's error for an aud that is neither a string nor an
// array of strings.
var ErrAudience error = &jsonTypeError{"aud must be a string or an array of strings"}

// ErrConfirmation is Decode's error for a cnf that is not an object, or
// whose jkt is not a string.
var ErrConfirmation error = &jsonTypeError{"cnf must be an object whose jkt is a string"}

type jsonTypeError struct{ msg string }

func (e *jsonTypeError) Error() string { return e.msg }

// maxClaimsDepth bounds nesting, as JSON v2 does.
const maxClaimsDepth = 10000

// Bits for the registered claims, to reject duplicates: bit i is
// Registered[i].
const (
	seenIss = 1 << iota
	seenSub
	seenAud
	seenExp
	seenNbf
	seenIat
	seenJti
	seenClientID
	seenRole
	seenRoles
	seenScope
	seenScp
	seenCnf
)

type claimsDecoder struct {
	in    string // unescaped strings are substrings of it
	pos   int
	depth int
	names []string // member names of the objects being parsed, for duplicate checks
}

// Decode parses the claims set data into w, which must be zero (but for
// [Wire.StoreLoneAudience]). Nothing in
// w aliases data: strings are taken from one copy of it, and Extra (the
// other members as one JSON object, or nil) is built anew. Its errors are
// ErrSyntax, ErrNumericDate and ErrAudience.
func Decode(data []byte, w *Wire) error {
	return DecodeString(string(data), w)
}

// DecodeString is [Decode] on a string, without the copy: w's unescaped
// strings are substrings of s. Escaped strings and Extra are built anew.
func DecodeString(s string, w *Wire) error {
	d := claimsDecoder{in: s, depth: 1} // the claims object itself is level 1, as in JSON v2
	d.skipSpace()
	if !d.consume('{') {
		return ErrSyntax
	}
	var (
		seen  uint32
		names nameSet
	)
	d.skipSpace()
	if d.consume('}') {
		return d.end()
	}
	for {
		d.skipSpace()
		start := d.pos
		name, err := d.readString()
		if err != nil {
			return err
		}
		rawName := d.in[start:d.pos]
		d.skipSpace()
		if !d.consume(':') {
			return ErrSyntax
		}
		d.skipSpace()
		bit := claimBit(name)
		if bit != 0 {
			if seen&bit != 0 {
				return ErrSyntax
			}
			seen |= bit
			if err := d.readClaim(bit, w); err != nil {
				return err
			}
		} else {
			if !names.add(&d, name) {
				return ErrSyntax
			}
			vstart := d.pos
			if err := d.skipValue(); err != nil {
				return err
			}
			if w.Extra == nil {
				w.Extra = append(make([]byte, 0, len(d.in)), '{')
			} else {
				w.Extra = append(w.Extra, ',')
			}
			w.Extra = append(w.Extra, rawName...)
			w.Extra = append(w.Extra, ':')
			w.Extra = append(w.Extra, d.in[vstart:d.pos]...)
		}
		more, err := d.afterValue('}')
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if w.Extra != nil {
		w.Extra = append(w.Extra, '}')
	}
	return d.end()
}

// claimBit returns the seen bit of a registered claim, 0 for another name.
// A switch, not a search of Registered: it runs for every member of every
// token (TestRegisteredClaimsListedOnce ties the two).
func claimBit(name string) uint32 {
	switch name {
	case "iss":
		return seenIss
	case "sub":
		return seenSub
	case "aud":
		return seenAud
	case "exp":
		return seenExp
	case "nbf":
		return seenNbf
	case "iat":
		return seenIat
	case "jti":
		return seenJti
	case "client_id":
		return seenClientID
	case "role":
		return seenRole
	case "roles":
		return seenRoles
	case "scope":
		return seenScope
	case "scp":
		return seenScp
	case "cnf":
		return seenCnf
	}
	return 0
}

// readClaim reads the value of a known claim with its type rules: string
// claims take a string or null; dates a number; aud a string or an array of
// strings; role and scope a string, roles and scp an array of strings, and
// anything else there is skipped (it grants nothing).
func (d *claimsDecoder) readClaim(bit uint32, w *Wire) error {
	var err error
	switch bit {
	case seenIss:
		w.Iss, err = d.readStringOrNull()
	case seenSub:
		w.Sub, err = d.readStringOrNull()
	case seenJti:
		w.Jti, err = d.readStringOrNull()
	case seenClientID:
		w.ClientID, err = d.readStringOrNull()
	case seenExp:
		w.Exp, err = d.readDate()
	case seenNbf:
		w.Nbf, err = d.readDate()
	case seenIat:
		w.Iat, err = d.readDate()
	case seenAud:
		switch d.peek() {
		case '"':
			var s string
			if s, err = d.readString(); err == nil {
				if w.audStore != nil {
					w.audStore[0] = s
					w.Aud = w.audStore[:]
				} else {
					w.Aud = Audience{s}
				}
			}
		case '[':
			var ok bool
			w.Aud, ok, err = d.readStrings()
			if err == nil && !ok {
				err = ErrAudience
			}
		default:
			err = ErrAudience
		}
	case seenRole, seenScope:
		var s string
		if d.peek() == '"' {
			s, err = d.readString()
		} else {
			err = d.skipValue()
		}
		if bit == seenRole {
			w.Role = LenientString(s)
		} else {
			w.Scope = LenientString(s)
		}
	case seenCnf:
		w.Cnf, err = d.readConfirmation()
	case seenRoles, seenScp:
		var list []string
		if d.peek() == '[' {
			var ok bool
			if list, ok, err = d.readStrings(); !ok {
				list = nil
			}
		} else {
			err = d.skipValue()
		}
		if bit == seenRoles {
			w.Roles = list
		} else {
			w.Scp = list
		}
	}
	return err
}

// readConfirmation reads cnf: an object whose "jkt", when present, is a
// string; other members are validated (no duplicates) and skipped.
func (d *claimsDecoder) readConfirmation() (Confirmation, error) {
	if d.peek() != '{' {
		if err := d.skipValue(); err != nil {
			return Confirmation{}, err
		}
		return Confirmation{}, ErrConfirmation
	}
	d.pos++ // '{'
	if err := d.enter(); err != nil {
		return Confirmation{}, err
	}
	defer d.leave()
	names := nameSet{base: len(d.names)}
	defer func() { d.names = d.names[:names.base] }()
	c := Confirmation{set: true}
	d.skipSpace()
	if d.consume('}') {
		return c, nil
	}
	var typeErr error
	for {
		d.skipSpace()
		name, err := d.readString()
		if err != nil {
			return Confirmation{}, err
		}
		if !names.add(d, name) {
			return Confirmation{}, ErrSyntax
		}
		d.skipSpace()
		if !d.consume(':') {
			return Confirmation{}, ErrSyntax
		}
		d.skipSpace()
		if name == "jkt" && d.peek() == '"' {
			if c.JKT, err = d.readString(); err != nil {
				return Confirmation{}, err
			}
		} else {
			if name == "jkt" {
				typeErr = ErrConfirmation
			}
			if err := d.skipValue(); err != nil {
				return Confirmation{}, err
			}
		}
		more, err := d.afterValue('}')
		if err != nil {
			return Confirmation{}, err
		}
		if !more {
			break
		}
	}
	if typeErr != nil {
		return Confirmation{}, typeErr
	}
	return c, nil
}

func (d *claimsDecoder) end() error {
	d.skipSpace()
	if d.pos != len(d.in) {
		return ErrSyntax
	}
	return nil
}

func (d *claimsDecoder) peek() byte {
	if d.pos < len(d.in) {
		return d.in[d.pos]
	}
	return 0
}

func (d *claimsDecoder) consume(c byte) bool {
	if d.pos < len(d.in) && d.in[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *claimsDecoder) skipSpace() {
	for d.pos < len(d.in) {
		switch d.in[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *claimsDecoder) literal(lit string) error {
	if len(d.in)-d.pos < len(lit) || d.in[d.pos:d.pos+len(lit)] != lit {
		return ErrSyntax
	}
	d.pos += len(lit)
	return nil
}

func (d *claimsDecoder) readStringOrNull() (string, error) {
	if d.peek() == 'n' {
		return "", d.literal("null")
	}
	return d.readString()
}

// readDate reads a NumericDate: a JSON number that fits a float64.
func (d *claimsDecoder) readDate() (NumericDate, error) {
	// The usual case first: whole seconds, at most 15 digits (exact in a
	// float64 below 2^53), followed by neither a fraction nor an exponent.
	in, i := d.in, d.pos
	if i < len(in) && in[i] >= '1' && in[i] <= '9' {
		var n int64
		j := i
		for j < len(in) && j-i < 16 && in[j] >= '0' && in[j] <= '9' {
			n = n*10 + int64(in[j]-'0')
			j++
		}
		if j-i <= 15 && (j == len(in) || in[j] != '.' && in[j] != 'e' && in[j] != 'E' && (in[j] < '0' || in[j] > '9')) {
			d.pos = j
			return NumericDate{sec: float64(n), set: true}, nil
		}
	}
	start := d.pos
	if err := d.skipNumber(); err != nil {
		if start == d.pos {
			return NumericDate{}, ErrNumericDate // not a number at all
		}
		return NumericDate{}, err
	}
	f, err := strconv.ParseFloat(d.in[start:d.pos], 64)
	if err != nil || math.IsInf(f, 0) {
		return NumericDate{}, ErrNumericDate
	}
	return NumericDate{sec: f, set: true}, nil
}

// readStrings reads an array; ok is false when an element is not a string
// (the array is still read and validated).
func (d *claimsDecoder) readStrings() (list []string, ok bool, err error) {
	d.pos++ // '['
	if err := d.enter(); err != nil {
		return nil, false, err
	}
	defer d.leave()
	ok = true
	d.skipSpace()
	if d.consume(']') {
		return []string{}, true, nil
	}
	for {
		d.skipSpace()
		if d.peek() == '"' {
			s, err := d.readString()
			if err != nil {
				return nil, false, err
			}
			list = append(list, s)
		} else {
			ok = false
			if err := d.skipValue(); err != nil {
				return nil, false, err
			}
		}
		more, err := d.afterValue(']')
		if err != nil {
			return nil, false, err
		}
		if !more {
			return list, ok, nil
		}
	}
}

func (d *claimsDecoder) enter() error {
	if d.depth++; d.depth > maxClaimsDepth {
		return ErrSyntax
	}
	return nil
}

func (d *claimsDecoder) leave() { d.depth-- }

// skipValue validates and skips one JSON value.
func (d *claimsDecoder) skipValue() error {
	switch c := d.peek(); {
	case c == '"':
		_, err := d.readString()
		return err
	case c == '{':
		return d.skipObject()
	case c == '[':
		d.pos++
		if err := d.enter(); err != nil {
			return err
		}
		defer d.leave()
		d.skipSpace()
		if d.consume(']') {
			return nil
		}
		for more := true; more; {
			d.skipSpace()
			if err := d.skipValue(); err != nil {
				return err
			}
			var err error
			if more, err = d.afterValue(']'); err != nil {
				return err
			}
		}
		return nil
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.skipNumber()
	}
	return ErrSyntax
}

// skipObject validates a nested object, rejecting duplicate names in it.
func (d *claimsDecoder) skipObject() error {
	d.pos++ // '{'
	if err := d.enter(); err != nil {
		return err
	}
	defer d.leave()
	names := nameSet{base: len(d.names)}
	defer func() { d.names = d.names[:names.base] }()
	d.skipSpace()
	if d.consume('}') {
		return nil
	}
	for {
		d.skipSpace()
		name, err := d.readString()
		if err != nil {
			return err
		}
		if !names.add(d, name) {
			return ErrSyntax
		}
		d.skipSpace()
		if !d.consume(':') {
			return ErrSyntax
		}
		d.skipSpace()
		if err := d.skipValue(); err != nil {
			return err
		}
		if more, err := d.afterValue('}'); !more || err != nil {
			return err
		}
	}
}

// afterValue reads what follows a member or an element: ',' when more
// follow, or the closer of the object or array.
func (d *claimsDecoder) afterValue(closer byte) (more bool, err error) {
	d.skipSpace()
	if d.consume(',') {
		return true, nil
	}
	if d.consume(closer) {
		return false, nil
	}
	return false, ErrSyntax
}

// nameSet is the member names of one object. They live in d.names from
// base on; past a few dozen a map takes over, so a hostile object with
// thousands of members costs linear, not quadratic, time.
type nameSet struct {
	base int
	big  map[string]struct{}
}

// add records name and reports whether it is new.
func (n *nameSet) add(d *claimsDecoder, name string) bool {
	if n.big != nil {
		if _, dup := n.big[name]; dup {
			return false
		}
		n.big[name] = struct{}{}
		return true
	}
	if slices.Contains(d.names[n.base:], name) {
		return false
	}
	d.names = append(d.names, name)
	if len(d.names)-n.base > 32 {
		n.big = make(map[string]struct{}, 64)
		for _, s := range d.names[n.base:] {
			n.big[s] = struct{}{}
		}
	}
	return true
}

// skipNumber validates a number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (d *claimsDecoder) skipNumber() error {
	in, i := d.in, d.pos
	if i < len(in) && in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		return ErrSyntax
	}
	if i < len(in) && in[i] == '.' {
		i++
		if i >= len(in) || in[i] < '0' || in[i] > '9' {
			return ErrSyntax
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if i >= len(in) || in[i] < '0' || in[i] > '9' {
			return ErrSyntax
		}
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return nil
}

// plainChar[c] is true for the bytes a string can hold as they are: ASCII
// from U+0020 up, but for '"' and '\\'.
var plainChar = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// readString reads a string token. Without escapes the result is a substring
// of d.in; with them it is built anew. Control characters, invalid UTF-8 and
// unpaired surrogate escapes are errors.
func (d *claimsDecoder) readString() (string, error) {
	if !d.consume('"') {
		return "", ErrSyntax
	}
	in, start := d.in, d.pos
	i := start
	for i < len(in) {
		for i < len(in) && plainChar[in[i]] {
			i++
		}
		if i == len(in) {
			break
		}
		c := in[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return in[start:i], nil
		case c == '\\':
			return d.readEscaped(start, i)
		case c < 0x20:
			return "", ErrSyntax
		default:
			r, size := utf8.DecodeRuneInString(in[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", ErrSyntax
			}
			i += size
		}
	}
	return "", ErrSyntax
}

// readEscaped finishes a string that has escapes, from position i (a '\\').
func (d *claimsDecoder) readEscaped(start, i int) (string, error) {
	in := d.in
	buf := append(make([]byte, 0, i-start+16), in[start:i]...)
	for i < len(in) {
		c := in[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(in) {
				return "", ErrSyntax
			}
			e := in[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(in, i)
				if !ok {
					return "", ErrSyntax
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || i+6 > len(in) || in[i] != '\\' || in[i+1] != 'u' {
						return "", ErrSyntax
					}
					r2, ok := hex4(in, i+2)
					if !ok {
						return "", ErrSyntax
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return "", ErrSyntax
					}
					i += 6
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", ErrSyntax
			}
		case c < 0x20:
			return "", ErrSyntax
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(in[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", ErrSyntax
			}
			buf = append(buf, in[i:i+size]...)
			i += size
		}
	}
	return "", ErrSyntax
}

func hex4(in string, i int) (rune, bool) {
	if i+4 > len(in) {
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		c := in[j]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
