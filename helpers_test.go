package guard

import (
	"bytes"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// checkResponse checks the status, the exact set of headers and the body.
func checkResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, hdr http.Header, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status: got %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	if got := rec.Header(); !maps.EqualFunc(got, hdr, slices.Equal) {
		t.Errorf("headers:\n got %v\nwant %v", got, hdr)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body: got %q, want %q", got, body)
	}
}
