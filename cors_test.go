package guard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/cors"
)

const (
	varyPreflight = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
	acao          = "Access-Control-Allow-Origin"
	acac          = "Access-Control-Allow-Credentials"
	aceh          = "Access-Control-Expose-Headers"
	acam          = "Access-Control-Allow-Methods"
	acah          = "Access-Control-Allow-Headers"
	acma          = "Access-Control-Max-Age"
)

var corsSeedConfig = CORSConfig{
	AllowedOrigins:   []string{"http://localhost:3000", "https://app.example.com", "https://*.example.org"},
	AllowCredentials: true,
	AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPut},
	ExposedHeaders:   []string{"X-Request-Id"},
}

func TestNewCORSRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  CORSConfig
		want []string // substrings of the error, all required
	}{
		{"star with credentials", CORSConfig{AllowedOrigins: []string{"*"}, AllowCredentials: true}, []string{`"*" cannot be combined`}},
		{"rs/cors#197 h*", CORSConfig{AllowedOrigins: []string{"h*"}, AllowCredentials: true}, []string{"h*"}},
		{"rs/cors#197 https://*", CORSConfig{AllowedOrigins: []string{"https://*"}}, []string{"wildcard"}},
		{"rs/cors#197 suffix wildcard", CORSConfig{AllowedOrigins: []string{"https://app.example.*"}}, []string{"wildcard"}},
		{"wildcard tld", CORSConfig{AllowedOrigins: []string{"https://*.com"}}, []string{"two labels"}},
		{"null", CORSConfig{AllowedOrigins: []string{"null"}}, []string{"null"}},
		{"empty", CORSConfig{AllowedOrigins: []string{""}}, []string{"empty origin"}},
		{"http with credentials", CORSConfig{AllowedOrigins: []string{"http://app.example.com"}, AllowCredentials: true}, []string{"http://", "DangerouslyAllowInsecureOrigins"}},
		{"http wildcard with credentials", CORSConfig{AllowedOrigins: []string{"http://*.example.com"}, AllowCredentials: true}, []string{"http://"}},
		{"trailing slash", CORSConfig{AllowedOrigins: []string{"https://app.example.com/"}}, []string{"trailing slash"}},
		{"uppercase", CORSConfig{AllowedOrigins: []string{"https://App.example.com"}}, []string{"lowercase"}},
		{"userinfo", CORSConfig{AllowedOrigins: []string{"https://u:p@app.example.com"}}, []string{"userinfo"}},
		{"default port", CORSConfig{AllowedOrigins: []string{"https://app.example.com:443"}}, []string{"default port"}},
		{"headers star with credentials", CORSConfig{AllowedHeaders: []string{"*"}, AllowCredentials: true}, []string{"allowed header"}},
		{"exposed star with credentials", CORSConfig{ExposedHeaders: []string{"*"}, AllowCredentials: true}, []string{"exposed header"}},
		{"bad header", CORSConfig{AllowedHeaders: []string{"X Bad"}}, []string{"X Bad"}},
		{"bad api key header", CORSConfig{APIKeyHeader: "X:Key"}, []string{"X:Key"}},
		{"method star", CORSConfig{AllowedMethods: []string{"*"}}, []string{`method "*"`}},
		{"method trace", CORSConfig{AllowedMethods: []string{"TRACE"}}, []string{"forbidden"}},
		{"method lowercase", CORSConfig{AllowedMethods: []string{"get"}}, []string{`"GET"`}},
		{"max age too long", CORSConfig{MaxAge: 3 * time.Hour}, []string{"MaxAge"}},
		{"max age fraction", CORSConfig{MaxAge: 1500 * time.Millisecond}, []string{"whole number"}},
		{"every problem at once", CORSConfig{
			AllowedOrigins: []string{"*", "null", "https://x.example/"}, AllowCredentials: true, MaxAge: 3 * time.Hour,
		}, []string{`"*"`, "null", "trailing slash", "MaxAge"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCORS(tt.cfg)
			if err == nil {
				t.Fatalf("got %+v, want an error", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewCORSAccepts(t *testing.T) {
	for _, cfg := range []CORSConfig{
		{},
		corsSeedConfig,
		{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}, ExposedHeaders: []string{"*"}},
		{AllowedOrigins: []string{"http://127.0.0.1:5173", "http://[::1]:5173", "http://app.localhost"}, AllowCredentials: true},
		{AllowedOrigins: []string{"http://intranet.example"}, AllowCredentials: true, DangerouslyAllowInsecureOrigins: true},
		{AllowedOrigins: []string{"http://app.example.com"}}, // http without credentials is fine
		{MaxAge: 2 * time.Hour},
		{MaxAge: -1},
		{AllowedMethods: []string{"PATCH", "patch"}}, // browsers do not normalise patch
	} {
		if _, err := NewCORS(cfg); err != nil {
			t.Errorf("NewCORS(%+v): %v", cfg, err)
		}
	}
}

func TestCORSHandler(t *testing.T) {
	seed, err := NewCORS(corsSeedConfig)
	if err != nil {
		t.Fatal(err)
	}
	public, err := NewCORS(CORSConfig{AllowedOrigins: []string{"*"}, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	denyAll, err := NewCORS(CORSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	withOptionsCfg := corsSeedConfig
	withOptionsCfg.AllowedMethods = []string{http.MethodGet, http.MethodOptions}
	withOptions, err := NewCORS(withOptionsCfg)
	if err != nil {
		t.Fatal(err)
	}
	noMethodsCfg := corsSeedConfig
	noMethodsCfg.AllowedMethods = []string{}
	noMethods, err := NewCORS(noMethodsCfg)
	if err != nil {
		t.Fatal(err)
	}
	var nilCORS *CORS
	const exposed = "Www-Authenticate, X-Request-Id"
	preflight := func(origin, method, headers string) map[string]string {
		h := map[string]string{"Access-Control-Request-Method": method}
		if origin != "" {
			h["Origin"] = origin
		}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return h
	}
	noCORS := map[string]string{"Vary": "Origin", acao: "", acac: "", aceh: ""}
	tests := []struct {
		name        string
		cors        *CORS
		method      string
		reqHeaders  map[string]string
		rawHeaders  map[string][]string // set as given, for repeated fields
		preVary     string              // Vary set by an outer layer before CORS runs
		wantStatus  int
		wantHeaders map[string]string // "" means absent; multiple values joined with " | "
		wantNext    bool
	}{
		{name: "no origin", cors: seed, method: "GET", wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "allowed origin", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "http://localhost:3000"}, wantStatus: 200,
			wantHeaders: map[string]string{"Vary": "Origin", acao: "http://localhost:3000", acac: "true", aceh: exposed, acam: "", acma: ""}, wantNext: true},
		{name: "allowed origin, outer Vary kept", cors: seed, method: "POST", preVary: "Accept-Encoding",
			reqHeaders: map[string]string{"Origin": "https://app.example.com"}, wantStatus: 200,
			wantHeaders: map[string]string{"Vary": "Accept-Encoding | Origin", acao: "https://app.example.com", acac: "true"}, wantNext: true},
		{name: "disallowed origin", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://evil.example"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "uppercase origin is not the same origin", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "HTTP://LOCALHOST:3000"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "null origin", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "null"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "method not allowed", cors: seed, method: "DELETE", reqHeaders: map[string]string{"Origin": "http://localhost:3000"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "wildcard subdomain", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://a.b.example.org"}, wantStatus: 200,
			wantHeaders: map[string]string{acao: "https://a.b.example.org", acac: "true"}, wantNext: true},
		{name: "wildcard does not match the domain itself", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://example.org"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "wildcard does not match a path trick", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://evil.com/.example.org"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "wildcard does not match a suffix trick", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://evilexample.org"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "wildcard does not match another port", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://a.example.org:8443"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "exact origin does not match another port", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "http://localhost:3001"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "public", cors: public, method: "GET", reqHeaders: map[string]string{"Origin": "https://anyone.example"}, wantStatus: 200,
			wantHeaders: map[string]string{"Vary": "Origin", acao: "*", acac: "", aceh: "Www-Authenticate"}, wantNext: true},

		{name: "preflight", cors: seed, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "PUT", "authorization,content-type,x-api-key"), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "http://localhost:3000", acac: "true", acam: "PUT",
				acah: "authorization,content-type,x-api-key", acma: "600", aceh: ""}},
		{name: "preflight wildcard origin", cors: seed, method: "OPTIONS", reqHeaders: preflight("https://x.example.org", "POST", ""), wantStatus: 204,
			wantHeaders: map[string]string{acao: "https://x.example.org", acam: "POST", acah: ""}},
		{name: "preflight disallowed origin", cors: seed, method: "OPTIONS", reqHeaders: preflight("https://evil.example", "GET", ""), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acam: "", acac: ""}},
		{name: "preflight without origin", cors: seed, method: "OPTIONS", reqHeaders: preflight("", "GET", ""), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: ""}},
		{name: "preflight disallowed method", cors: seed, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "DELETE", ""), wantStatus: 204,
			wantHeaders: map[string]string{acao: "", acam: ""}},
		{name: "preflight disallowed header", cors: seed, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "GET", "x-secret"), wantStatus: 204,
			wantHeaders: map[string]string{acao: "", acah: ""}},
		{name: "preflight public no caching", cors: public, method: "OPTIONS", reqHeaders: preflight("https://a.example", "GET", "x-api-key"), wantStatus: 204,
			wantHeaders: map[string]string{acao: "*", acma: "0", acah: "x-api-key", acac: ""}},
		// Not a preflight but an actual request: from an allowed origin it
		// gets the CORS headers, whether or not OPTIONS is listed, so a
		// script can read the answer of the layers inside (a 401 from
		// authentication; issue 17, item 11). This row used to want no
		// Access-Control-Allow-Origin for an unlisted OPTIONS.
		{name: "OPTIONS without request method is not a preflight", cors: seed, method: "OPTIONS",
			reqHeaders: map[string]string{"Origin": "http://localhost:3000"}, wantStatus: 200,
			wantHeaders: map[string]string{"Vary": "Origin", acao: "http://localhost:3000", acac: "true", aceh: exposed, acam: ""}, wantNext: true},

		{name: "empty config denies", cors: denyAll, method: "GET", reqHeaders: map[string]string{"Origin": "https://app.example.com"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "empty config denies preflight", cors: denyAll, method: "OPTIONS", reqHeaders: preflight("https://app.example.com", "GET", ""), wantStatus: 204,
			wantHeaders: map[string]string{acao: "", acam: ""}},
		{name: "zero value denies", cors: &CORS{}, method: "GET", reqHeaders: map[string]string{"Origin": "https://app.example.com"}, wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "nil denies", cors: nilCORS, method: "OPTIONS", reqHeaders: preflight("https://app.example.com", "GET", ""), wantStatus: 204, wantHeaders: map[string]string{acao: ""}},

		// An Origin field names one origin (RFC 6454 §7; the Fetch standard
		// sends one). Two fields, or a list in one, are refused whole:
		// rs/cors would echo every value, one of them never checked.
		{name: "two origins", cors: seed, method: "GET", rawHeaders: map[string][]string{"Origin": {"http://localhost:3000", "https://evil.example"}},
			wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "two allowed origins", cors: seed, method: "GET", rawHeaders: map[string][]string{"Origin": {"http://localhost:3000", "https://app.example.com"}},
			wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "origin list in one field", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "http://localhost:3000, https://evil.example"},
			wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "origin list in one field, wildcard", cors: seed, method: "GET", reqHeaders: map[string]string{"Origin": "https://a.example.org https://evil.example"},
			wantStatus: 200, wantHeaders: noCORS, wantNext: true},
		{name: "preflight two origins", cors: seed, method: "OPTIONS", reqHeaders: preflight("", "GET", ""),
			rawHeaders: map[string][]string{"Origin": {"http://localhost:3000", "https://evil.example"}}, wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acac: "", acam: "", acah: "", acma: "", aceh: ""}},
		{name: "preflight two allowed origins", cors: seed, method: "OPTIONS", reqHeaders: preflight("", "GET", ""),
			rawHeaders: map[string][]string{"Origin": {"http://localhost:3000", "https://app.example.com"}}, wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acac: "", acam: "", acma: ""}},
		{name: "preflight two origins, public", cors: public, method: "OPTIONS", reqHeaders: preflight("", "GET", ""),
			rawHeaders: map[string][]string{"Origin": {"https://a.example", "https://b.example"}}, wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acam: "", acma: ""}},
		{name: "preflight origin list in one field", cors: seed, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000, https://evil.example", "GET", ""), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acac: "", acam: ""}},
		{name: "preflight two request methods", cors: seed, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "", ""),
			rawHeaders: map[string][]string{"Access-Control-Request-Method": {"PUT", "DELETE"}}, wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acac: "", acam: ""}},

		// OPTIONS is a method like any other: allowed cross-origin only when
		// listed, for the preflight and for the request that follows it.
		{name: "preflight for OPTIONS, not listed", cors: seed, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "OPTIONS", ""), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acac: "", acam: "", acma: ""}},
		{name: "preflight for OPTIONS, listed", cors: withOptions, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "OPTIONS", ""), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "http://localhost:3000", acac: "true", acam: "OPTIONS", acma: "600"}},
		{name: "OPTIONS without request method, OPTIONS listed", cors: withOptions, method: "OPTIONS",
			reqHeaders: map[string]string{"Origin": "http://localhost:3000"}, wantStatus: 200,
			wantHeaders: map[string]string{"Vary": "Origin", acao: "http://localhost:3000", acac: "true", aceh: exposed, acam: "", acma: ""}, wantNext: true},
		{name: "empty method list denies preflight", cors: noMethods, method: "OPTIONS", reqHeaders: preflight("http://localhost:3000", "GET", ""), wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acam: ""}},
		{name: "empty method list denies", cors: noMethods, method: "GET", reqHeaders: map[string]string{"Origin": "http://localhost:3000"}, wantStatus: 200,
			wantHeaders: noCORS, wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			h := tt.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				_, _ = w.Write([]byte("ok"))
			}))
			r := httptest.NewRequest(tt.method, "/api", nil)
			for k, v := range tt.reqHeaders {
				if v != "" {
					r.Header.Set(k, v)
				}
			}
			for k, v := range tt.rawHeaders {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			if tt.preVary != "" {
				w.Header().Set("Vary", tt.preVary)
			}
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d", w.Code, tt.wantStatus)
			}
			for k, want := range tt.wantHeaders {
				if got := strings.Join(w.Header().Values(k), " | "); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if ran != tt.wantNext {
				t.Errorf("next ran: got %v, want %v", ran, tt.wantNext)
			}
			if wantBody := map[bool]string{true: "ok", false: ""}[tt.wantNext]; w.Body.String() != wantBody {
				t.Errorf("body: got %q, want %q", w.Body.String(), wantBody)
			}
		})
	}
}

// TestCORSOptionsOnProtectedRoute: an OPTIONS without
// Access-Control-Request-Method is an actual request; on a protected route
// from an allowed origin its 401 carries the challenge and the CORS headers,
// like a GET's (issue 17, item 11).
func TestCORSOptionsOnProtectedRoute(t *testing.T) {
	c, err := NewCORS(corsSeedConfig)
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, VerifierConfig{})
	ran := false
	h := c.Handler(v.RequireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true })))
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			r := httptest.NewRequest(method, "/api", nil)
			r.Header.Set("Origin", "http://localhost:3000")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			want := http.Header{
				"Vary":                             {"Origin"},
				"Access-Control-Allow-Origin":      {"http://localhost:3000"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers":    {"Www-Authenticate, X-Request-Id"},
				"Www-Authenticate":                 {`Bearer realm="api"`},
			}
			if w.Code != http.StatusUnauthorized || ran {
				t.Fatalf("got %d (next ran: %v), want 401", w.Code, ran)
			}
			for k, vs := range want {
				if got := w.Header().Values(k); strings.Join(got, ", ") != strings.Join(vs, ", ") {
					t.Errorf("%s: got %q, want %q", k, got, vs)
				}
			}
		})
	}
}

// TestCORSDownstreamCannotCorruptHeaders is the rs/cors#198 regression: a
// handler that writes into the header slices it was handed, or appends to
// them, must not change what later responses carry.
func TestCORSDownstreamCannotCorruptHeaders(t *testing.T) {
	c, err := NewCORS(corsSeedConfig)
	if err != nil {
		t.Fatal(err)
	}
	vandal := true
	h := c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !vandal {
			return
		}
		hd := w.Header()
		for _, k := range []string{"Vary", acao, acac, aceh} {
			if v := hd[k]; len(v) > 0 {
				v[0] = "corrupted"
				hd[k] = append(v, "appended")
				_ = append(v[:1], "overwrite-next")
			}
		}
	}))
	send := func(method string, hdr map[string]string) http.Header {
		r := httptest.NewRequest(method, "/", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := r.Header.Get("Origin"); got != hdr["Origin"] {
			t.Fatalf("request Origin header changed to %q", got)
		}
		return w.Header()
	}
	allowed := map[string]string{"Origin": "http://localhost:3000"}
	for _, hdr := range []map[string]string{nil, allowed, {"Origin": "https://evil.example"}} {
		send("GET", hdr)
	}
	vandal = false
	got := send("GET", allowed)
	for k, want := range map[string]string{"Vary": "Origin", acao: "http://localhost:3000", acac: "true", aceh: "Www-Authenticate, X-Request-Id"} {
		if v := strings.Join(got.Values(k), " | "); v != want {
			t.Errorf("%s after a vandal: got %q, want %q", k, v, want)
		}
	}
	got = send("GET", nil)
	if v := strings.Join(got.Values("Vary"), " | "); v != "Origin" {
		t.Errorf("Vary without origin after a vandal: got %q, want %q", v, "Origin")
	}
	got = send("OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "PUT"})
	if v := strings.Join(got.Values("Vary"), " | "); v != varyPreflight {
		t.Errorf("preflight Vary after a vandal: got %q, want %q", v, varyPreflight)
	}
	if v := got.Get(acac); v != "true" {
		t.Errorf("preflight %s after a vandal: got %q, want true", acac, v)
	}
}

// TestCORSOuterVaryNotWrittenThrough: when an outer layer hands a Vary slice
// with spare capacity, CORS must not append into its backing array.
func TestCORSOuterVaryNotWrittenThrough(t *testing.T) {
	c, err := NewCORS(corsSeedConfig)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tc := range []struct{ method, reqMethod string }{{"GET", "GET"}, {"OPTIONS", "GET"}, {"OPTIONS", "OPTIONS"}} {
		shared := make([]string, 1, 4)
		shared[0] = "Accept-Encoding"
		r := httptest.NewRequest(tc.method, "/", nil)
		r.Header.Set("Origin", "http://localhost:3000")
		r.Header.Set("Access-Control-Request-Method", tc.reqMethod) // OPTIONS is refused by corsSeedConfig
		w := httptest.NewRecorder()
		w.Header()["Vary"] = shared
		h.ServeHTTP(w, r)
		if extra := shared[:2][1]; extra != "" {
			t.Errorf("%s for %s: CORS wrote %q into the outer layer's backing array", tc.method, tc.reqMethod, extra)
		}
	}
}

// TestCORSOutsideAuth: CORS wraps authentication; preflights never reach it,
// and its 401s still carry CORS headers so the browser lets the script read
// the challenge.
func TestCORSOutsideAuth(t *testing.T) {
	c, err := NewCORS(corsSeedConfig)
	if err != nil {
		t.Fatal(err)
	}
	store := new(MemoryAPIKeys)
	store.Add(APIKeyDigest(demoKey), APIKeyRecord{Subject: "bob"})
	auth, err := NewAPIKeyAuth(APIKeyAuthConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	h := c.Handler(auth.RequireAPIKey(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true })))

	r := httptest.NewRequest("GET", "/secure", nil)
	r.Header.Set("Origin", "http://localhost:3000")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	for k, want := range map[string]string{
		acao: "http://localhost:3000", acac: "true", aceh: "Www-Authenticate, X-Request-Id", "Vary": "Origin",
		"WWW-Authenticate": challengeBare, "Content-Type": "application/json",
	} {
		if got := strings.Join(w.Header().Values(k), " | "); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if w.Code != 401 || ran || w.Body.String() != bodyMissing {
		t.Errorf("got %d %q (next ran %v), want 401 %q", w.Code, w.Body.String(), ran, bodyMissing)
	}

	r = httptest.NewRequest("OPTIONS", "/secure", nil)
	r.Header.Set("Origin", "http://localhost:3000")
	r.Header.Set("Access-Control-Request-Method", "GET")
	r.Header.Set("Access-Control-Request-Headers", "x-api-key")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 204 || ran || w.Header().Get("WWW-Authenticate") != "" || w.Header().Get(acah) != "x-api-key" {
		t.Errorf("preflight: got %d %v (next ran %v), want 204 allowing x-api-key without a challenge", w.Code, w.Header(), ran)
	}
}

// TestCORSOptionsRequestReachesAuth: an OPTIONS request without
// Access-Control-Request-Method is an actual request. It goes to the auth
// layer, and when OPTIONS is an allowed method its 401 carries the CORS
// headers a script needs to read it; the preflight for OPTIONS is granted
// exactly when the OPTIONS request itself would be.
func TestCORSOptionsRequestReachesAuth(t *testing.T) {
	const (
		origin    = "http://localhost:3000"
		challenge = `Bearer realm="api"`
		body      = `{"error":"unauthorized"}`
	)
	withOptionsCfg := corsSeedConfig
	withOptionsCfg.AllowedMethods = []string{http.MethodGet, http.MethodOptions}
	withOptions, err := NewCORS(withOptionsCfg)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := NewCORS(corsSeedConfig)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		cors        *CORS
		acrm        string // Access-Control-Request-Method; "" for none
		wantStatus  int
		wantHeaders map[string]string // "" means absent
		wantBody    string
		wantNext    bool
	}{
		{name: "OPTIONS listed: request", cors: withOptions, wantStatus: 401,
			wantHeaders: map[string]string{"Vary": "Origin", acao: origin, acac: "true", aceh: "Www-Authenticate, X-Request-Id",
				acam: "", acma: "", "WWW-Authenticate": challenge, "Content-Type": "application/json"},
			wantBody: body, wantNext: true},
		{name: "OPTIONS listed: preflight", cors: withOptions, acrm: "OPTIONS", wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: origin, acac: "true", acam: "OPTIONS", acma: "600",
				aceh: "", "WWW-Authenticate": ""}},
		// Issue 17, item 11: an OPTIONS that is not a preflight is an actual
		// request, and from an allowed origin its 401 carries the CORS
		// headers whether or not OPTIONS is listed. (This row used to want
		// none; the listing only governs the preflight, below.)
		{name: "OPTIONS not listed: request", cors: seed, wantStatus: 401,
			wantHeaders: map[string]string{"Vary": "Origin", acao: origin, acac: "true", aceh: "Www-Authenticate, X-Request-Id", "WWW-Authenticate": challenge},
			wantBody:    body, wantNext: true},
		{name: "OPTIONS not listed: preflight", cors: seed, acrm: "OPTIONS", wantStatus: 204,
			wantHeaders: map[string]string{"Vary": varyPreflight, acao: "", acac: "", acam: "", acma: "", "WWW-Authenticate": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran = true
				w.Header().Set("WWW-Authenticate", challenge)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(body))
			})
			r := httptest.NewRequest(http.MethodOptions, "/protected", nil)
			r.Header.Set("Origin", origin)
			if tt.acrm != "" {
				r.Header.Set("Access-Control-Request-Method", tt.acrm)
			}
			w := httptest.NewRecorder()
			tt.cors.Handler(auth).ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d", w.Code, tt.wantStatus)
			}
			for k, want := range tt.wantHeaders {
				if got := strings.Join(w.Header().Values(k), " | "); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body: got %q, want %q", got, tt.wantBody)
			}
			if ran != tt.wantNext {
				t.Errorf("next ran: got %v, want %v", ran, tt.wantNext)
			}
		})
	}
}

// FuzzCORSOrigin sends arbitrary Origin values: the handler never panics,
// always varies on Origin, and allows only configured origins.
func FuzzCORSOrigin(f *testing.F) {
	for _, o := range []string{"", "null", "http://localhost:3000", "https://a.example.org", "https://example.org",
		"https://evil.com/.example.org", "https://.example.org", "https://a..example.org", "HTTPS://APP.EXAMPLE.COM"} {
		f.Add(o)
	}
	c, err := NewCORS(corsSeedConfig)
	if err != nil {
		f.Fatal(err)
	}
	h := c.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	f.Fuzz(func(t *testing.T, o string) {
		for _, method := range []string{"GET", "OPTIONS"} {
			r := httptest.NewRequest(method, "/", nil)
			r.Header["Origin"] = []string{o}
			r.Header["Access-Control-Request-Method"] = []string{"GET"}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !strings.HasPrefix(w.Header().Get("Vary"), "Origin") {
				t.Fatalf("%s %q: Vary %q", method, o, w.Header().Get("Vary"))
			}
			got := w.Header().Get(acao)
			if got == "" {
				continue
			}
			if got != o {
				t.Fatalf("%s %q: allowed as %q", method, o, got)
			}
			sub, ok := strings.CutSuffix(strings.TrimPrefix(o, "https://"), ".example.org")
			if o != "http://localhost:3000" && o != "https://app.example.com" &&
				(!ok || !strings.HasPrefix(o, "https://") || sub == "" || strings.Trim(sub, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" ||
					strings.Contains(sub, "..") || sub[0] == '.' || sub[len(sub)-1] == '.') {
				t.Fatalf("%s %q allowed", method, o)
			}
		}
	})
}

func rsEquivalent() *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins:   corsSeedConfig.AllowedOrigins,
		AllowCredentials: true,
		AllowedMethods:   corsSeedConfig.AllowedMethods,
		AllowedHeaders:   []string{"Accept", "Content-Type", "X-Requested-With", "Authorization", "X-API-Key"},
		ExposedHeaders:   []string{"WWW-Authenticate", "X-Request-Id"},
		MaxAge:           600,
	})
}

func BenchmarkCORS(b *testing.B) {
	g, err := NewCORS(corsSeedConfig)
	if err != nil {
		b.Fatal(err)
	}
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	impls := []struct {
		name string
		h    http.Handler
	}{{"guard", g.Handler(noop)}, {"rs", rsEquivalent().Handler(noop)}}
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		want   string // Access-Control-Allow-Origin
	}{
		{"actual", "GET", map[string]string{"Origin": "https://app.example.com"}, "https://app.example.com"},
		{"preflight", "OPTIONS", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
			"Access-Control-Request-Headers": "authorization,content-type"}, "https://app.example.com"},
		{"no-origin", "GET", nil, ""},
	}
	for _, c := range cases {
		for _, impl := range impls {
			b.Run(c.name+"/"+impl.name, func(b *testing.B) {
				r := httptest.NewRequest(c.method, "/", nil)
				for k, v := range c.hdr {
					r.Header.Set(k, v)
				}
				w := &benchWriter{h: make(http.Header)}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					impl.h.ServeHTTP(w, r)
				}
				if got := w.h.Get(acao); got != c.want {
					b.Fatalf("%s: got %q, want %q", acao, got, c.want)
				}
			})
		}
	}
}
