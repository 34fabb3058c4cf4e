package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/guardkit/guard"
)

const discoverMore = `URL is an issuer (https://auth.example) or the address of its metadata
(https://auth.example/.well-known/openid-configuration). For an issuer the
OpenID Connect document is fetched, and the RFC 8414 one when that answers
404, as guard.RemoteKeySet does. Then the JWK Set at jwks_uri is fetched and
read with guard.ParseJWKSet, and guard.RemoteKeySet is run against the issuer:
the report says whether a guard service trusting this issuer would load keys.

Problems are listed as "error" (exit status 1) or "warning": the issuer
differing from the URL, non-https endpoints, a missing jwks_uri or
response_types_supported, no S256 in code_challenge_methods_supported,
keys without kid or alg, private or secret material in the JWK Set, keys or
algorithms guard cannot use, and more.

Examples:
  guard discover https://accounts.google.com
  guard discover --json https://auth.example/.well-known/oauth-authorization-server
  guard discover --insecure http://auth.internal:8080
`

// problem is one finding of discover.
type problem struct {
	Severity string `json:"severity"` // "error" or "warning"
	Message  string `json:"message"`
}

// discovery is what discover found.
type discovery struct {
	Issuer      string    `json:"issuer"`
	MetadataURL string    `json:"metadata_url"`
	JWKSURI     string    `json:"jwks_uri,omitempty"`
	Keys        []keyInfo `json:"keys"`
	GuardLoads  bool      `json:"guard_loads_keys"`
	Problems    []problem `json:"problems"`
	OK          bool      `json:"ok"`

	usable     bool // the JWK Set has keys guard can use: worth running RemoteKeySet
	issuerHome bool // the metadata URL is the document issuer's own location
}

// keyInfo describes one entry of the JWK Set.
type keyInfo struct {
	Kid    string `json:"kid,omitempty"`
	Kty    string `json:"kty,omitempty"`
	Alg    string `json:"alg,omitempty"`
	Use    string `json:"use,omitempty"`
	Usable bool   `json:"usable"`
}

func (d *discovery) errorf(format string, args ...any) {
	d.Problems = append(d.Problems, problem{"error", fmt.Sprintf(format, args...)})
}

func (d *discovery) warnf(format string, args ...any) {
	d.Problems = append(d.Problems, problem{"warning", fmt.Sprintf(format, args...)})
}

func (c *cli) discover(args []string) int {
	fs := c.flagSet("discover", "guard discover [--insecure] [--timeout D] [--json] URL", discoverMore)
	insecure := fs.Bool("insecure", false, "allow plain http URLs to non-loopback hosts")
	timeout := fs.Duration("timeout", 10*time.Second, "time allowed for each fetch")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, status, done := c.parse(fs, args)
	if done {
		return status
	}
	if len(pos) != 1 {
		return c.fail("discover", usagef("want one URL argument, got %d (see -h)", len(pos)))
	}
	u, err := checkURL(pos[0], *insecure)
	if err != nil {
		return c.fail("discover", err)
	}
	f := &fetcher{client: fetchClient(*insecure), timeout: *timeout}
	d, err := c.runDiscovery(f, u, *insecure, *timeout)
	if err != nil {
		return c.fail("discover", err)
	}
	d.OK = !slices.ContainsFunc(d.Problems, func(p problem) bool { return p.Severity == "error" })
	if d.Keys == nil {
		d.Keys = []keyInfo{}
	}
	if d.Problems == nil {
		d.Problems = []problem{}
	}
	if *asJSON {
		if err := c.writeJSON(d); err != nil {
			return c.fail("discover", err)
		}
	} else {
		c.printDiscovery(d)
	}
	if !d.OK {
		return exitFail
	}
	return exitOK
}

func (c *cli) printDiscovery(d *discovery) {
	fmt.Fprintf(c.stdout, "issuer:   %s\nmetadata: %s\n", d.Issuer, d.MetadataURL)
	if d.JWKSURI != "" {
		fmt.Fprintf(c.stdout, "jwks_uri: %s\n", d.JWKSURI)
	}
	if len(d.Keys) > 0 {
		fmt.Fprintln(c.stdout, "keys:")
		for _, k := range d.Keys {
			usable := "usable"
			if !k.Usable {
				usable = "not usable by guard"
			}
			fmt.Fprintf(c.stdout, "  kid=%q kty=%s alg=%s use=%s: %s\n", k.Kid, orDash(k.Kty), orDash(k.Alg), orDash(k.Use), usable)
		}
	}
	fmt.Fprintf(c.stdout, "guard.RemoteKeySet loads keys: %s\n", yesNo(d.GuardLoads))
	if len(d.Problems) == 0 {
		fmt.Fprintln(c.stdout, "no problems found")
		return
	}
	fmt.Fprintln(c.stdout, "problems:")
	for _, p := range d.Problems {
		fmt.Fprintf(c.stdout, "  %-7s  %s\n", p.Severity, p.Message)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkURL applies guard's rule for remote URLs: https, or http to a
// loopback host, or any http with insecure.
func checkURL(raw string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, usagef("%q is not an http(s) URL", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return nil, usagef("%q has user info or a fragment", raw)
	}
	if u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()) {
		return nil, usagef("%q is plain http to a non-loopback host; use https, or --insecure", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// fetchClient follows redirects that keep the scheme and guard's URL rule.
func fetchClient(insecure bool) *http.Client {
	return &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != via[len(via)-1].URL.Scheme {
			return errors.New("a redirect changes the scheme")
		}
		if _, err := checkURL(req.URL.String(), insecure); err != nil {
			return err
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}}
}

// fetcher GETs documents of at most guard.DefaultMaxRemoteBytes.
type fetcher struct {
	client  *http.Client
	timeout time.Duration
}

// errStatus is a response other than 200.
type errStatus struct{ code int }

func (e errStatus) Error() string { return fmt.Sprintf("status %d", e.code) }

func (f *fetcher) get(u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errStatus{resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, guard.DefaultMaxRemoteBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > guard.DefaultMaxRemoteBytes {
		return nil, fmt.Errorf("the document is over %d bytes", guard.DefaultMaxRemoteBytes)
	}
	return body, nil
}

// wellKnown returns the metadata URLs of issuer: OpenID Connect Discovery
// 1.0 §4 appends the suffix; RFC 8414 §3 inserts it before the path.
func wellKnown(issuer *url.URL) (oidc, oauth string) {
	path := strings.TrimSuffix(issuer.EscapedPath(), "/")
	base := issuer.Scheme + "://" + issuer.Host
	return base + path + "/.well-known/openid-configuration", base + "/.well-known/oauth-authorization-server" + path
}

// runDiscovery fetches and checks. An error means nothing could be
// checked (the metadata could not be fetched or read).
func (c *cli) runDiscovery(f *fetcher, u *url.URL, insecure bool, timeout time.Duration) (*discovery, error) {
	d := &discovery{}
	var body []byte
	var err error
	var expected string // the issuer the document must name; "" to derive
	if strings.Contains(u.Path, "/.well-known/") {
		d.MetadataURL = u.String()
		body, err = f.get(d.MetadataURL)
	} else {
		expected = u.String()
		oidc, oauth := wellKnown(u)
		d.MetadataURL = oidc
		body, err = f.get(oidc)
		if s, ok := errors.AsType[errStatus](err); ok && s.code == http.StatusNotFound {
			d.MetadataURL = oauth
			body, err = f.get(oauth)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", d.MetadataURL, err)
	}
	var meta map[string]json.RawMessage
	if err := strictJSON(body, &meta); err != nil || meta == nil {
		return nil, fmt.Errorf("%s is not a JSON object: %v", d.MetadataURL, err)
	}
	c.checkMetadata(d, meta, expected, insecure)
	if d.JWKSURI != "" {
		c.checkJWKS(d, f)
	}
	// RemoteKeySet runs against the URL asked for, or the document's issuer
	// when the document sits at that issuer's own location: never against
	// another host that a document names.
	if d.usable && d.Issuer != "" && (expected == "" && d.issuerHome || expected != "") {
		issuer := expected
		if issuer == "" {
			issuer = d.Issuer
		}
		remote, err := c.remoteKeys("", issuer, insecure, timeout)
		if err != nil {
			d.errorf("guard.RemoteKeySet does not load keys for this issuer: %s", strings.ReplaceAll(err.Error(), "guard: ", ""))
		} else {
			d.GuardLoads = true
			remote.Close()
		}
	}
	return d, nil
}

// endpoints are the metadata members that hold URLs (OpenID Connect
// Discovery 1.0 §3, RFC 8414 §2, RFC 9126, RFC 8628).
var endpoints = []string{
	"jwks_uri", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "registration_endpoint",
	"introspection_endpoint", "revocation_endpoint", "end_session_endpoint",
	"device_authorization_endpoint", "pushed_authorization_request_endpoint",
}

func (c *cli) checkMetadata(d *discovery, meta map[string]json.RawMessage, expected string, insecure bool) {
	str := func(name string) (string, bool) {
		var s string
		raw, ok := meta[name]
		if !ok {
			return "", false
		}
		if json.Unmarshal(raw, &s) != nil {
			d.errorf("%s is not a string", name)
			return "", false
		}
		return s, true
	}
	list := func(name string) ([]string, bool) {
		var l []string
		raw, ok := meta[name]
		if !ok {
			return nil, false
		}
		if json.Unmarshal(raw, &l) != nil {
			d.errorf("%s is not an array of strings", name)
			return nil, false
		}
		return l, true
	}
	iss, ok := str("issuer")
	d.Issuer = iss
	if !ok || iss == "" {
		d.errorf("issuer is missing")
	} else {
		issURL, err := url.Parse(iss)
		switch {
		case err != nil || issURL.Host == "":
			d.errorf("issuer %q is not a URL", iss)
		case expected != "" && iss != expected:
			d.errorf("issuer %q is not the URL asked for, %q (they must be equal byte for byte; guard refuses the document)", iss, expected)
		case expected == "":
			oidc, oauth := wellKnown(issURL)
			if d.MetadataURL != oidc && d.MetadataURL != oauth {
				d.errorf("issuer %q does not publish its metadata at %s (expected %s or %s)", iss, d.MetadataURL, oidc, oauth)
			} else {
				d.issuerHome = true
			}
		}
		if err == nil && (issURL.RawQuery != "" || issURL.Fragment != "") {
			d.errorf("issuer %q has a query or fragment", iss)
		}
		if err == nil && issURL.Scheme != "https" {
			d.warnf("issuer %q is not https: acceptable for local testing only", iss)
		}
	}
	httpsIssuer := strings.HasPrefix(iss, "https://")
	for _, name := range endpoints {
		v, ok := str(name)
		if !ok {
			continue
		}
		eu, err := url.Parse(v)
		switch {
		case err != nil || eu.Host == "" || (eu.Scheme != "https" && eu.Scheme != "http"):
			d.errorf("%s %q is not an absolute http(s) URL", name, v)
		case eu.Scheme == "http" && httpsIssuer:
			d.errorf("%s %q is plain http under an https issuer", name, v)
		case eu.Scheme == "http" && !insecure && !isLoopback(eu.Hostname()):
			d.errorf("%s %q is plain http to a non-loopback host", name, v)
		}
	}
	if v, ok := str("jwks_uri"); !ok || v == "" {
		d.errorf("jwks_uri is missing: token signatures cannot be checked")
	} else if _, err := checkURL(v, insecure); err == nil && (!httpsIssuer || strings.HasPrefix(v, "https://")) {
		d.JWKSURI = v
	}
	if _, ok := list("response_types_supported"); !ok {
		d.warnf("response_types_supported is missing (required by RFC 8414 and OpenID Connect Discovery)")
	}
	if strings.HasSuffix(d.MetadataURL, "/openid-configuration") {
		for _, name := range []string{"subject_types_supported", "id_token_signing_alg_values_supported"} {
			if _, ok := list(name); !ok {
				d.warnf("%s is missing (required by OpenID Connect Discovery)", name)
			}
		}
	}
	if _, ok := meta["authorization_endpoint"]; ok {
		methods, ok := list("code_challenge_methods_supported")
		switch {
		case !ok:
			d.errorf("code_challenge_methods_supported is missing: clients cannot tell that PKCE S256 is supported")
		case !slices.Contains(methods, "S256"):
			d.errorf("code_challenge_methods_supported %q lacks S256", methods)
		case slices.Contains(methods, "plain"):
			d.warnf("code_challenge_methods_supported offers \"plain\"; S256 alone is safer")
		}
	}
	if grants, ok := list("grant_types_supported"); ok {
		for _, g := range grants {
			if g == "implicit" || g == "password" {
				d.warnf("grant_types_supported lists %q, which OAuth 2.0 Security BCP (RFC 9700) advises against", g)
			}
		}
	}
	for _, name := range []string{"id_token_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported"} {
		algs, _ := list(name)
		for _, a := range algs {
			if a == "none" {
				d.warnf("%s lists \"none\"", name)
			} else if !guard.Algorithm(a).Valid() {
				d.warnf("%s lists %q, which guard does not verify", name, a)
			}
		}
	}
}

// privateMembers are the JWK members that carry private or secret material.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func (c *cli) checkJWKS(d *discovery, f *fetcher) {
	body, err := f.get(d.JWKSURI)
	if err != nil {
		d.errorf("GET jwks_uri %s: %v", d.JWKSURI, err)
		return
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := strictJSON(body, &set); err != nil || set.Keys == nil {
		d.errorf("the JWK Set is not a JSON object with a \"keys\" array")
		return
	}
	usable, skipped, perr := guard.ParseJWKSet(body)
	if perr != nil {
		d.errorf("guard refuses the JWK Set: %s", strings.ReplaceAll(perr.Error(), "guard: ", ""))
	}
	for _, s := range skipped {
		d.warnf("guard skips a key: %s", strings.ReplaceAll(s.Error(), "guard: ", ""))
	}
	switch {
	case len(set.Keys) == 0:
		d.errorf("the JWK Set has no keys: tokens cannot be verified with public keys (an issuer signing with HMAC only?)")
	case perr == nil && len(usable) == 0:
		d.errorf("the JWK Set has no key guard can use")
	}
	d.usable = perr == nil && len(usable) > 0
	kids := map[string]int{}
	for i, m := range set.Keys {
		var k keyInfo
		for name, dst := range map[string]*string{"kid": &k.Kid, "kty": &k.Kty, "alg": &k.Alg, "use": &k.Use} {
			_ = json.Unmarshal(m[name], dst)
		}
		k.Usable = slices.ContainsFunc(usable, func(u *guard.Key) bool { return u.KeyID() == k.Kid })
		d.Keys = append(d.Keys, k)
		at := fmt.Sprintf("keys[%d] (kid %q)", i, k.Kid)
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				d.errorf("%s publishes the private member %q: the key is compromised, replace it", at, p)
			}
		}
		if k.Kid == "" {
			d.warnf("keys[%d] has no kid: verifiers cannot pick it when the set has several keys", i)
		} else if j, dup := kids[k.Kid]; dup {
			d.errorf("%s has the same kid as keys[%d]", at, j)
		} else {
			kids[k.Kid] = i
		}
		if k.Alg == "" {
			d.warnf("%s has no alg: guard then assumes the algorithm its type implies (RS256 for RSA)", at)
		} else if !guard.Algorithm(k.Alg).Valid() && k.Use != "enc" {
			d.warnf("%s has alg %q, which guard does not verify", at, k.Alg)
		}
	}
}

// strictJSON decodes data into v after checking that it is one valid JSON
// value with no duplicate member names at any depth (jsontext's default).
func strictJSON(data []byte, v any) error {
	if !jsontext.Value(data).IsValid() {
		return errors.New("not valid JSON, or duplicate member names")
	}
	return json.Unmarshal(data, v)
}
