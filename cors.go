package guard

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/guardkit/guard/internal/origin"
	"github.com/guardkit/guard/internal/syntax"
	"github.com/rs/cors"
)

const (
	defaultCORSMaxAge = 10 * time.Minute
	// maxCORSMaxAge is Chromium's own cap; larger values only mislead.
	maxCORSMaxAge = 2 * time.Hour
)

// CORSConfig configures [NewCORS]. The zero value allows no cross-origin
// access at all. It is copied by the constructor; changing it afterwards has
// no effect.
type CORSConfig struct {
	// AllowedOrigins lists the origins whose scripts may read responses, in
	// the lowercase form browsers send: "https://app.example.com",
	// "http://localhost:3000", "http://[::1]:8080". Two patterns are also
	// accepted: "https://*.example.com" (any subdomain, at any depth, of a
	// domain of two labels or more, never the domain itself) and "*" (every
	// origin; refused with AllowCredentials). Anything else, including "null",
	// other wildcards ("h*", "https://*", "https://app.example.*"), paths,
	// trailing slashes, userinfo, default ports and uppercase, is an error.
	// Default: none (no cross-origin access).
	AllowedOrigins []string
	// AllowCredentials lets browsers send cookies and HTTP authentication
	// with cross-origin requests and read the responses
	// (Access-Control-Allow-Credentials: true). With it, every origin must be
	// https, or http on localhost or a loopback address, unless
	// DangerouslyAllowInsecureOrigins is set. Default false.
	AllowCredentials bool
	// AllowedMethods lists the methods allowed cross-origin, case-sensitive.
	// Default GET, HEAD, POST; an empty non-nil list allows none. OPTIONS is
	// allowed only when listed (scripts must then pass the preflight for it).
	// "*", CONNECT, TRACE and TRACK are refused.
	AllowedMethods []string
	// AllowedHeaders lists the request headers allowed cross-origin, besides
	// Authorization and APIKeyHeader, which are always allowed. "*" allows
	// any header and is refused with AllowCredentials. Default Accept,
	// Content-Type, X-Requested-With.
	AllowedHeaders []string
	// APIKeyHeader is the header carrying API keys (see [APIKeyAuthConfig].Header),
	// added to AllowedHeaders. Default "X-API-Key".
	APIKeyHeader string
	// ExposedHeaders lists the response headers scripts may read besides the
	// CORS-safelisted ones. WWW-Authenticate is always exposed, so clients can
	// see why a request was refused. "*" is refused with AllowCredentials.
	// Default: just WWW-Authenticate.
	ExposedHeaders []string
	// MaxAge is how long browsers may cache a preflight result, in whole
	// seconds. Default 10 minutes; a negative value sends 0 (no caching);
	// more than 2 hours is an error (browsers cap it anyway).
	MaxAge time.Duration
	// DangerouslyAllowInsecureOrigins accepts http:// origins on non-loopback
	// hosts together with AllowCredentials. Anyone on the network path of such
	// an origin can inject script into it and act as its users. Default false.
	DangerouslyAllowInsecureOrigins bool
}

// CORS is Cross-Origin Resource Sharing middleware: a validated configuration
// over github.com/rs/cors. Create it with [NewCORS]; the zero value (and a
// nil *CORS) allows no cross-origin access. It is safe for concurrent use by
// multiple goroutines.
//
// Place it outside authentication: CORS answers preflight requests itself,
// since browsers send them without credentials, and adds its headers to
// every actual response, including the 401s of the layers inside it.
type CORS struct {
	rs       *cors.Cors
	all      bool                // "*": Access-Control-Allow-Origin: *
	exact    map[string]struct{} // exact origins
	wild     []wildcardOrigin
	methods  []string
	exposed  string // Access-Control-Expose-Headers value
	withCred bool
}

// wildcardOrigin matches scheme://<labels>.domain[:port].
type wildcardOrigin struct{ prefix, suffix string }

func (w wildcardOrigin) match(o string) bool {
	if len(o) <= len(w.prefix)+len(w.suffix) || !strings.HasPrefix(o, w.prefix) || !strings.HasSuffix(o, w.suffix) {
		return false
	}
	// The subdomain part must be dot-separated labels: no port, path or
	// userinfo hiding in it (rs/cors would accept "https://x/.example.com").
	sub := o[len(w.prefix) : len(o)-len(w.suffix)]
	prev := byte('.')
	for i := 0; i < len(sub); i++ {
		c := sub[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == '.' && prev != '.':
		default:
			return false
		}
		prev = c
	}
	return prev != '.'
}

// NewCORS returns CORS middleware for cfg, or an error joining every problem
// found (see [CORSConfig] for what is refused: unsafe or malformed origins,
// "*" with credentials, bad header or method names, MaxAge over 2 hours).
func NewCORS(cfg CORSConfig) (*CORS, error) {
	var errs []error
	c := &CORS{exact: make(map[string]struct{}), withCred: cfg.AllowCredentials}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			if cfg.AllowCredentials {
				errs = append(errs, errors.New(`guard: CORS origin "*" cannot be combined with AllowCredentials; list the origins`))
			}
			c.all = true
			continue
		}
		p, err := origin.Parse(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: CORS %w", err))
			continue
		}
		if cfg.AllowCredentials && p.Scheme == "http" && !p.Loopback && !cfg.DangerouslyAllowInsecureOrigins {
			errs = append(errs, fmt.Errorf("guard: CORS origin %q is http:// with AllowCredentials; use https (or DangerouslyAllowInsecureOrigins)", o))
			continue
		}
		if p.Wildcard {
			w := wildcardOrigin{prefix: p.Scheme + "://", suffix: "." + p.Host}
			if p.Port != "" {
				w.suffix += ":" + p.Port
			}
			c.wild = append(c.wild, w)
		} else {
			c.exact[o] = struct{}{}
		}
	}
	if c.all {
		c.exact, c.wild = nil, nil
	}

	methods := cfg.AllowedMethods
	if methods == nil {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	for _, m := range methods {
		switch up := strings.ToUpper(m); {
		case m == "*":
			errs = append(errs, errors.New(`guard: CORS method "*" is not supported; list the methods`))
		case !syntax.IsToken(m):
			errs = append(errs, fmt.Errorf("guard: CORS method %q is not a valid method name", m))
		case up == "CONNECT" || up == "TRACE" || up == "TRACK":
			errs = append(errs, fmt.Errorf("guard: CORS method %q is forbidden by the Fetch standard", m))
		case up != m && (up == "DELETE" || up == "GET" || up == "HEAD" || up == "OPTIONS" || up == "POST" || up == "PUT"):
			errs = append(errs, fmt.Errorf("guard: CORS method %q: write %q, the form browsers send", m, up))
		}
	}
	c.methods = append([]string(nil), methods...)

	apiKeyHeader := cfg.APIKeyHeader
	if apiKeyHeader == "" {
		apiKeyHeader = "X-API-Key"
	}
	headers := cfg.AllowedHeaders
	if headers == nil {
		headers = []string{"Accept", "Content-Type", "X-Requested-With"}
	}
	headers = append(append([]string(nil), headers...), "Authorization", apiKeyHeader)
	errs = append(errs, checkHeaderNames("allowed header", headers, cfg.AllowCredentials)...)

	exposed := append([]string{"WWW-Authenticate"}, cfg.ExposedHeaders...)
	errs = append(errs, checkHeaderNames("exposed header", exposed, cfg.AllowCredentials)...)
	exposed = dedupeFold(exposed)
	for i, h := range exposed {
		exposed[i] = http.CanonicalHeaderKey(h)
	}
	c.exposed = strings.Join(exposed, ", ")

	maxAge := cfg.MaxAge
	switch {
	case maxAge == 0:
		maxAge = defaultCORSMaxAge
	case maxAge > maxCORSMaxAge:
		errs = append(errs, fmt.Errorf("guard: CORS MaxAge %v is over %v", maxAge, maxCORSMaxAge))
	case maxAge > 0 && maxAge%time.Second != 0:
		errs = append(errs, fmt.Errorf("guard: CORS MaxAge %v is not a whole number of seconds", maxAge))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	secs := int(maxAge / time.Second)
	if maxAge < 0 {
		secs = -1 // rs/cors: send Access-Control-Max-Age: 0
	}

	opts := cors.Options{
		AllowedMethods:     c.methods,
		AllowedHeaders:     headers,
		ExposedHeaders:     exposed,
		MaxAge:             secs,
		AllowCredentials:   cfg.AllowCredentials,
		OptionsPassthrough: false,
	}
	if c.all {
		opts.AllowedOrigins = []string{"*"}
	} else {
		// One matcher for preflight and actual requests; also keeps rs/cors
		// from its permissive default when the list is empty.
		opts.AllowOriginFunc = c.allowed
	}
	c.rs = cors.New(opts)
	return c, nil
}

func checkHeaderNames(what string, names []string, credentials bool) []error {
	var errs []error
	for _, h := range names {
		switch {
		case h == "*" && credentials:
			errs = append(errs, fmt.Errorf(`guard: CORS %s "*" cannot be combined with AllowCredentials; list the headers`, what))
		case h != "*" && !syntax.IsToken(h):
			errs = append(errs, fmt.Errorf("guard: CORS %s %q is not a valid header name", what, h))
		}
	}
	return errs
}

func dedupeFold(s []string) []string {
	out := s[:0]
	for _, v := range s {
		dup := false
		for _, w := range out {
			if strings.EqualFold(v, w) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// allowed reports whether the Origin header value o is allowed. Origins are
// compared exactly, as browsers serialize them in lowercase.
func (c *CORS) allowed(o string) bool {
	if c.all {
		return true
	}
	if _, ok := c.exact[o]; ok {
		return true
	}
	for _, w := range c.wild {
		if w.match(o) {
			return true
		}
	}
	return false
}

func (c *CORS) methodAllowed(m string) bool {
	for _, x := range c.methods {
		if x == m {
			return true
		}
	}
	return false
}

// corsPreflightVary is the Vary value rs/cors sends on preflight responses
// (without Private Network Access, which NewCORS does not enable).
const corsPreflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

var denyAllCORS = func() *CORS {
	c, err := NewCORS(CORSConfig{})
	if err != nil {
		panic(err) // unreachable: the zero config is valid
	}
	return c
}()

// Handler returns middleware applying c to every request:
//
//   - A preflight (OPTIONS with Access-Control-Request-Method) is answered
//     here with 204 and never reaches next, so authentication inside it does
//     not see credential-less preflights. The CORS headers are present only
//     when the origin, method and requested headers are all allowed; a
//     preflight for OPTIONS is allowed only when AllowedMethods lists it.
//   - Any other request, including an OPTIONS without
//     Access-Control-Request-Method, goes to next. For an allowed origin and
//     method (an OPTIONS that is not a preflight counts as allowed, listed
//     or not), Access-Control-Allow-Origin, Access-Control-Allow-Credentials
//     (when configured) and Access-Control-Expose-Headers are set first, so
//     scripts can read the responses of the layers inside, 401s included.
//   - A request with more than one Origin field, or a preflight with more
//     than one Access-Control-Request-Method field, gets no CORS headers: an
//     Origin names one origin (RFC 6454 §7), and a list in one field matches
//     no configured origin either.
//   - Every response carries Vary: Origin (preflights also vary on the
//     request method and headers), whatever the origin, so caches never
//     serve one origin's response to another.
//
// The header values handed to next belong to the request: a handler that
// modifies them in place cannot alter other responses. Handler never answers
// an error itself: a disallowed origin just gets no CORS headers.
func (c *CORS) Handler(next http.Handler) http.Handler {
	if c == nil || c.rs == nil {
		c = denyAllCORS
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		vary := h["Vary"]
		origins := r.Header["Origin"]
		if reqMethod := r.Header["Access-Control-Request-Method"]; r.Method == http.MethodOptions && len(reqMethod) > 0 && reqMethod[0] != "" {
			// rs/cors appends to Vary; make sure that cannot write into a
			// backing array another layer shares.
			vary = vary[:len(vary):len(vary)]
			// rs/cors would echo every Origin and every requested method,
			// checking only the first, and grants OPTIONS whatever the
			// configuration: refuse those here, as it refuses an origin.
			if len(origins) != 1 || len(reqMethod) != 1 || !c.methodAllowed(reqMethod[0]) {
				h["Vary"] = append(vary, corsPreflightVary)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if vary != nil {
				h["Vary"] = vary
			}
			c.rs.HandlerFunc(w, r)
			return
		}
		// One allocation holds every header value this request gets: the
		// existing Vary values, "Origin", and then the origin, the exposed
		// headers and "true". Each header gets a full slice (cap == len) of
		// it, so appends by next reallocate, and writes stay in this response.
		n := len(vary) + 1
		// An OPTIONS that is not a preflight is answered like any actual
		// request from an allowed origin, listed or not: its 401 must be
		// readable too (a browser sends one only after a preflight for it).
		allow := len(origins) == 1 && c.allowed(origins[0]) && (c.methodAllowed(r.Method) || r.Method == http.MethodOptions)
		size := n
		if allow {
			size += 3
		}
		buf := make([]string, size)
		copy(buf, vary)
		buf[n-1] = "Origin"
		h["Vary"] = buf[:n:n]
		if allow {
			if c.all {
				buf[n] = "*"
			} else {
				buf[n] = origins[0]
			}
			h["Access-Control-Allow-Origin"] = buf[n : n+1 : n+1]
			buf[n+1] = c.exposed
			h["Access-Control-Expose-Headers"] = buf[n+1 : n+2 : n+2]
			if c.withCred {
				buf[n+2] = "true"
				h["Access-Control-Allow-Credentials"] = buf[n+2 : n+3 : n+3]
			}
		}
		next.ServeHTTP(w, r)
	})
}
