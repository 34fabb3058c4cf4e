package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/guardkit/guard/examples/server/app"
)

// testApp is the handler main serves, with the tests' secret, API key and
// origin; mod, when not nil, changes the config first.
func testApp(t *testing.T, mod func(*app.Config)) http.Handler {
	t.Helper()
	cfg := app.Config{Secret: []byte("example-test-secret-example-test-secret"), APIKey: "demo-key",
		Origins: []string{"http://localhost:3000"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	h, err := newApp(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve sends one request to h from loopback: a form post when body is not
// nil, with the extra header fields.
func serve(h http.Handler, method, target string, body url.Values, header map[string]string) *httptest.ResponseRecorder {
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.RemoteAddr = "127.0.0.1:5000"
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
