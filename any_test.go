package guard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequireAny(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	keys := new(MemoryAPIKeys)
	keys.Add(APIKeyDigest("good-key"), APIKeyRecord{Subject: "svc", Roles: []string{"user"}})
	a, err := NewAPIKeyAuth(APIKeyConfig{Store: keys, DangerouslyAllowQuery: true})
	if err != nil {
		t.Fatal(err)
	}
	good := issueToken(t, nil, Claims{Subject: "alice", Roles: []string{"admin"}})

	bearerChallenge := `Bearer realm="api"`
	apiKeyChallenge := `ApiKey realm="api", header="X-API-Key"`
	tests := []struct {
		name           string
		bearer, apiKey string
		query          string
		wantStatus     int
		wantChallenges []string
		wantBody       string
		wantSubject    string
		wantMethod     Method
		wantNoStore    bool
	}{
		{name: "none: every challenge", wantStatus: 401, wantChallenges: []string{bearerChallenge, apiKeyChallenge},
			wantBody: `{"error":"unauthorized","error_description":"authentication required"}` + "\n"},
		{name: "bearer decides", bearer: good, wantStatus: 200, wantSubject: "alice", wantMethod: MethodBearer},
		{name: "api key decides", apiKey: "good-key", wantStatus: 200, wantSubject: "svc", wantMethod: MethodAPIKey},
		{name: "bad bearer alone", bearer: good + "x", wantStatus: 401,
			wantChallenges: []string{bearerChallenge + `, error="invalid_token", error_description="invalid signature"`},
			wantBody:       `{"error":"invalid_token","error_description":"invalid signature"}` + "\n"},
		{name: "bad api key alone", apiKey: "nope", wantStatus: 401,
			wantChallenges: []string{apiKeyChallenge + `, error="invalid_token"`},
			wantBody:       `{"error":"invalid_token","error_description":"invalid API key"}` + "\n"},
		{name: "both valid: ambiguous", bearer: good, apiKey: "good-key", wantStatus: 400,
			wantChallenges: []string{bearerChallenge + `, error="invalid_request", error_description="more than one credential"`, apiKeyChallenge},
			wantBody:       `{"error":"invalid_request","error_description":"more than one credential"}` + "\n"},
		{name: "bearer and bad key", bearer: good, apiKey: "nope", wantStatus: 400,
			wantChallenges: []string{bearerChallenge + `, error="invalid_request", error_description="more than one credential"`, apiKeyChallenge},
			wantBody:       `{"error":"invalid_request","error_description":"more than one credential"}` + "\n"},
		{name: "query key", query: "api_key=good-key", wantStatus: 200, wantSubject: "svc", wantMethod: MethodAPIKey, wantNoStore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *Principal
			h := RequireAny(nil, v, a)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = PrincipalFrom(r.Context())
			}))
			target := "/"
			if tt.query != "" {
				target += "?" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.apiKey != "" {
				r.Header.Set("X-API-Key", tt.apiKey)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 200 {
				if got == nil || got.Subject != tt.wantSubject || got.Method != tt.wantMethod {
					t.Fatalf("principal: got %+v, want subject %q method %v", got, tt.wantSubject, tt.wantMethod)
				}
			} else if got != nil {
				t.Fatal("next ran on a failure")
			}
			if tt.wantChallenges != nil {
				gotCh := w.Header().Values("WWW-Authenticate")
				if len(gotCh) != len(tt.wantChallenges) {
					t.Fatalf("challenges: got %q, want %q", gotCh, tt.wantChallenges)
				}
				for i := range gotCh {
					if gotCh[i] != tt.wantChallenges[i] {
						t.Errorf("challenge %d: got %q, want %q", i, gotCh[i], tt.wantChallenges[i])
					}
				}
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("body: got %q, want %q", w.Body, tt.wantBody)
			}
			if gotNoStore := w.Header().Get("Cache-Control") == "no-store"; tt.wantNoStore && !gotNoStore {
				t.Errorf("Cache-Control: got %q, want no-store", w.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestRequireAnyCustomWriterAndNoAuthenticators(t *testing.T) {
	var seen error
	h := RequireAny(func(w http.ResponseWriter, r *http.Request, err error) {
		seen = err
		w.WriteHeader(http.StatusTeapot)
	})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("next ran") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusTeapot || !errors.Is(seen, ErrNoCredentials) {
		t.Fatalf("got %d and %v, want the custom writer with ErrNoCredentials", w.Code, seen)
	}
}
