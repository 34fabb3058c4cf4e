package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

const notVerified = "NOT VERIFIED: decoded only; the signature and the claims were not checked (use guard token verify)."

const inspectMore = `Decodes a compact JWS (a JWT) WITHOUT verifying it and says so on the first
line. Header and claims are pretty-printed in their own member order; iat,
nbf, exp and auth_time are shown in UTC with their distance from now.
Nothing here means the token is valid: use guard token verify for that.

Examples:
  guard token inspect eyJhbGciOi...
  pbpaste | guard token inspect -
  guard token inspect --json "$TOKEN" | jq .claims.sub
`

// decodedToken is a token taken apart without any check of its signature.
type decodedToken struct {
	Header, Claims jsontext.Value // indented JSON objects
	SigLen         int            // bytes of signature
}

// decodeToken splits a compact JWS and decodes its header and claims as
// JSON objects (strict base64url, no duplicate member names, valid UTF-8).
// It checks nothing else.
func decodeToken(tok string) (decodedToken, error) {
	if len(tok) > maxInspectBytes {
		return decodedToken{}, fmt.Errorf("the token is over %d bytes", maxInspectBytes)
	}
	parts := strings.Split(tok, ".")
	switch {
	case len(parts) == 5:
		return decodedToken{}, errors.New("this is an encrypted token (JWE, five parts); it cannot be read without the key")
	case len(parts) != 3:
		return decodedToken{}, fmt.Errorf("a JWT has three dot-separated parts, this has %d", len(parts))
	}
	var d decodedToken
	var err error
	if d.Header, err = decodeSegment("header", parts[0]); err != nil {
		return decodedToken{}, err
	}
	if d.Claims, err = decodeSegment("claims", parts[1]); err != nil {
		return decodedToken{}, err
	}
	sig, err := decodeB64("signature", parts[2])
	if err != nil {
		return decodedToken{}, err
	}
	d.SigLen = len(sig)
	return d, nil
}

func decodeB64(name, seg string) ([]byte, error) {
	// Go's decoder skips CR and LF; a token has none.
	if strings.ContainsAny(seg, "\r\n") {
		return nil, fmt.Errorf("the %s is not base64url: it contains a line break", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("the %s is not base64url (unpadded): %v", name, err)
	}
	return b, nil
}

func decodeSegment(name, seg string) (jsontext.Value, error) {
	if seg == "" {
		return nil, fmt.Errorf("the %s is empty", name)
	}
	b, err := decodeB64(name, seg)
	if err != nil {
		return nil, err
	}
	// The decoder's defaults are guard's rules: no duplicate member names,
	// valid UTF-8, one value.
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	v, err := dec.ReadValue()
	v = v.Clone() // the next read reuses the decoder's buffer
	if err == nil {
		_, err = dec.ReadToken()
		if err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the %s is not valid JSON: %v", name, err)
	}
	if v.Kind() != '{' {
		return nil, fmt.Errorf("the %s is not a JSON object", name)
	}
	if err := v.Indent(jsontext.WithIndent("  ")); err != nil {
		return nil, fmt.Errorf("the %s is not valid JSON: %v", name, err)
	}
	return v, nil
}

// claimTime is one time claim, as inspect shows it.
type claimTime struct {
	Name     string `json:"-"`
	Unix     int64  `json:"unix"`
	UTC      string `json:"utc"`
	Relative string `json:"relative"`
}

// times reads the time claims of d; a claim that is not a number is skipped.
func (d decodedToken) times(now time.Time) []claimTime {
	var m map[string]json.RawMessage
	if json.Unmarshal(d.Claims, &m) != nil {
		return nil
	}
	var out []claimTime
	for _, name := range timeClaims {
		t, ok := numericDate(m[name])
		if !ok {
			continue
		}
		out = append(out, claimTime{Name: name, Unix: t.Unix(), UTC: utc(t), Relative: ago(t, now)})
	}
	return out
}

func (c *cli) tokenInspect(args []string) int {
	fs := c.flagSet("token inspect", "guard token inspect [--json] TOKEN", inspectMore)
	asJSON := fs.Bool("json", false, "print JSON (\"verified\": false, header, claims, times)")
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	tok, err := c.tokenArg("inspect", pos)
	if err != nil {
		return c.fail("token inspect", err)
	}
	d, err := decodeToken(tok)
	if err != nil {
		return c.fail("token inspect", usagef("malformed token: %v", err))
	}
	times := d.times(c.now())
	if *asJSON {
		tm := map[string]claimTime{}
		for _, t := range times {
			tm[t.Name] = t
		}
		res := struct {
			Verified bool                 `json:"verified"`
			Note     string               `json:"note"`
			Header   json.RawMessage      `json:"header"`
			Claims   json.RawMessage      `json:"claims"`
			Times    map[string]claimTime `json:"times"`
		}{false, notVerified, json.RawMessage(d.Header), json.RawMessage(d.Claims), tm}
		if err := c.writeJSON(res); err != nil {
			return c.fail("token inspect", err)
		}
		return exitOK
	}
	fmt.Fprintln(c.stdout, notVerified)
	fmt.Fprintf(c.stdout, "\nheader:\n%s\n\nclaims:\n%s\n", d.Header, d.Claims)
	if len(times) > 0 {
		fmt.Fprintln(c.stdout, "\ntimes:")
		for _, t := range times {
			fmt.Fprintf(c.stdout, "  %-9s %s (%s)\n", t.Name, t.UTC, t.Relative)
		}
	}
	fmt.Fprintf(c.stdout, "\nsignature: %d bytes, not checked\n", d.SigLen)
	return exitOK
}
