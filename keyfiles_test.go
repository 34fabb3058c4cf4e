package guard

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestThumbprintRFC7638: the example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	k, err := ParseJWK("", []byte(`{"kty":"RSA","n":"`+n+`","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint: got %s, want %s", got, want)
	}
	if got := jwtMustHMAC(t, HS256, jwtSecret32, "h").Thumbprint(); got != "" {
		t.Errorf("HMAC key thumbprint: got %q, want none", got)
	}
	ec := jwtMustPriv(t, ES256, jwtP256(), "")
	if a, b := ec.Thumbprint(), ec.Public().Thumbprint(); a == "" || a != b {
		t.Errorf("EC thumbprint of the private and public halves: %q, %q", a, b)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestKeyFiles: a set made of files follows them: a new file's key is
// published, the first file's key signs, a key gone from the files is
// retired, and a broken file changes nothing.
func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	cur, next := filepath.Join(dir, "current.pem"), filepath.Join(dir, "next.jwk")
	writePEM(t, cur, "PRIVATE KEY", pkcs8(t, jwtP256()))
	clock := &ksClock{t: jwtNow}
	var logs lockedBuffer
	ks := mustKeySet(t, KeySetConfig{KeyFiles: []KeyFile{{Path: cur, Alg: ES256}}, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	first := ks.SigningKey()
	if first.KeyID() != first.Thumbprint() {
		t.Errorf("kid of a PEM key without KID: got %q, want its thumbprint %q", first.KeyID(), first.Thumbprint())
	}
	if err := ks.ReloadKeyFiles(); err != nil {
		t.Fatalf("reload of unchanged files: %v", err)
	}

	// Publish the next key (a private JWK, its own kid), then let it sign.
	ed := jwtMustPriv(t, EdDSA, jwtEd(), "")
	j, _ := ed.publicJWK()
	jwkText := `{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"next-1","x":"` + j.X + `","d":"` + b64.EncodeToString(jwtEd().Seed()) + `"}`
	if err := os.WriteFile(next, []byte(jwkText), 0o600); err != nil {
		t.Fatal(err)
	}
	ks2 := mustKeySet(t, KeySetConfig{KeyFiles: []KeyFile{{Path: cur, Alg: ES256}, {Path: next}}, Now: clock.Now})
	if got := ks2.SigningKey().KeyID(); got != first.KeyID() {
		t.Errorf("signing key: got %s, want the first file's %s", got, first.KeyID())
	}
	if kids := snapshotKids(ks2); !slices.Equal(kids, []string{first.KeyID(), "next-1"}) {
		t.Errorf("published: got %v, want both", kids)
	}

	// Rotate ks: the JWK file first, the PEM file gone.
	ks.files.files = []KeyFile{{Path: next}}
	if err := ks.ReloadKeyFiles(); err != nil {
		t.Fatal(err)
	}
	if got := ks.SigningKey().KeyID(); got != "next-1" {
		t.Errorf("after the swap: signs with %s, want next-1", got)
	}
	if kids := snapshotKids(ks); !slices.Contains(kids, first.KeyID()) {
		t.Errorf("the old key must verify while retired: got %v", kids)
	}
	clock.Add(DefaultRetireAfter)
	if kids := snapshotKids(ks); slices.Contains(kids, first.KeyID()) {
		t.Errorf("the old key is still served after RetireAfter: %v", kids)
	}

	// A broken file: the last good keys keep serving; Run logs it.
	if err := os.WriteFile(next, []byte(`{"kty":"OKP",`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ks.ReloadKeyFiles(); err == nil {
		t.Error("reload of a broken file: got nil, want an error")
	}
	if got := ks.SigningKey().KeyID(); got != "next-1" {
		t.Errorf("after a broken file: signs with %s, want next-1", got)
	}
	ks.reloadFiles(t.Context())
	if !strings.Contains(logs.String(), "keeping the last good keys") || strings.Contains(logs.String(), j.X) {
		t.Errorf("log: got %q, want the failure without key material", logs.String())
	}

	// A kid reused for other material is refused.
	otherPriv := ed25519Other(t)
	other := jwtMustPriv(t, EdDSA, otherPriv, "")
	oj, _ := other.publicJWK()
	if err := os.WriteFile(next, []byte(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"next-1","x":"`+oj.X+`","d":"`+b64.EncodeToString(otherPriv.Seed())+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ks.ReloadKeyFiles(); err == nil || !strings.Contains(err.Error(), "names another key") {
		t.Errorf("kid reused: got %v", err)
	}
}

func ed25519Other(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyFilesRefused(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "pub.pem")
	der, err := x509.MarshalPKIXPublicKey(jwtP256().Public())
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, pub, "PUBLIC KEY", der)
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, bytes.Repeat([]byte("A"), maxKeyFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(dir, "priv.pem")
	writePEM(t, priv, "PRIVATE KEY", pkcs8(t, jwtP256()))
	for _, tt := range []struct {
		name string
		cfg  KeySetConfig
		want string
	}{
		{"missing file", KeySetConfig{KeyFiles: []KeyFile{{Path: filepath.Join(dir, "none.pem"), Alg: ES256}}}, "no such file"},
		{"PEM without Alg", KeySetConfig{KeyFiles: []KeyFile{{Path: priv}}}, "needs its Alg"},
		{"no key that can sign", KeySetConfig{KeyFiles: []KeyFile{{Path: pub, Alg: ES256}}}, "no key that can sign"},
		{"oversized file", KeySetConfig{KeyFiles: []KeyFile{{Path: big, Alg: ES256}}}, "over 1048576 bytes"},
		{"same key twice", KeySetConfig{KeyFiles: []KeyFile{{Path: priv, Alg: ES256}, {Path: priv, Alg: ES256}}}, "is in another file"},
		{"files and keys", KeySetConfig{KeyFiles: []KeyFile{{Path: priv, Alg: ES256}}, Keys: []*Key{jwtMustPriv(t, ES256, jwtP256b(), "x")}}, "excludes Keys"},
		{"files and rotation", KeySetConfig{KeyFiles: []KeyFile{{Path: priv, Alg: ES256}}, RotateEvery: time.Hour}, "excludes Keys, Store and RotateEvery"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeySet(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, ErrKeyRing) {
				t.Errorf("a file problem is not ErrKeyRing: %v", err)
			}
		})
	}
}
