package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/guardkit/guard"
)

// maxKeyFileBytes bounds a key file, as guard's KeySet does.
const maxKeyFileBytes = 1 << 20

// readFile reads at most maxKeyFileBytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxKeyFileBytes)
	}
	return data, nil
}

// loadKeys reads the keys of a key file: a PEM block (a private or public
// key), one JWK, or a JWK Set (every key). alg binds a PEM key (default:
// the one its type implies, RS256 for RSA) and must agree with a JWK's
// own. A key without a kid gets its RFC 7638 thumbprint, as in guard's
// KeySet key files. Every error is a usageError naming the file.
func loadKeys(path string, alg guard.Algorithm) ([]*guard.Key, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	keys, err := parseKeys(data, alg)
	if err != nil {
		return nil, usagef("%s: %v", path, err)
	}
	return keys, nil
}

// loadKey is loadKeys for a file that must hold exactly one key.
func loadKey(path string, alg guard.Algorithm) (*guard.Key, error) {
	keys, err := loadKeys(path, alg)
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, usagef("%s: holds %d keys, want one", path, len(keys))
	}
	return keys[0], nil
}

func parseKeys(data []byte, alg guard.Algorithm) ([]*guard.Key, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty file")
	}
	if trimmed[0] != '{' {
		k, err := parsePEM(data, alg)
		if err != nil {
			return nil, err
		}
		return []*guard.Key{k}, nil
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(trimmed, &set); err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if set.Keys == nil {
		k, err := parseJWK(trimmed, alg)
		if err != nil {
			return nil, err
		}
		return []*guard.Key{k}, nil
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the JWK Set has no keys")
	}
	var keys []*guard.Key
	var errs []error
	for i, raw := range set.Keys {
		k, err := parseJWK(raw, alg)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, errors.Join(errs...)
}

// parseJWK parses one JWK with guard.ParseJWK; a JWK without a kid is
// parsed again with its thumbprint as kid.
func parseJWK(raw []byte, alg guard.Algorithm) (*guard.Key, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("malformed JWK: %v", err)
	}
	if _, ok := members["alg"]; !ok && alg == "" {
		if a := impliedJWKAlg(members); a != "" {
			alg = a
		}
	}
	k, err := guard.ParseJWK(alg, raw)
	if err != nil {
		return nil, err
	}
	if k.KeyID() != "" {
		return k, nil
	}
	kid := k.Thumbprint()
	if kid == "" {
		return nil, errors.New("an HMAC (oct) JWK needs a kid")
	}
	members["kid"], _ = json.Marshal(kid)
	withKid, err := json.Marshal(members)
	if err != nil {
		return nil, err
	}
	return guard.ParseJWK(alg, withKid)
}

// impliedJWKAlg is the algorithm a JWK without "alg" is used with, as
// guard.ParseJWKSet implies it: the curve's for EC, EdDSA for Ed25519,
// RS256 for RSA. "" when nothing follows.
func impliedJWKAlg(m map[string]json.RawMessage) guard.Algorithm {
	var kty, crv string
	_ = json.Unmarshal(m["kty"], &kty)
	_ = json.Unmarshal(m["crv"], &crv)
	switch {
	case kty == "EC" && crv == "P-256":
		return guard.ES256
	case kty == "EC" && crv == "P-384":
		return guard.ES384
	case kty == "EC" && crv == "P-521":
		return guard.ES512
	case kty == "OKP" && crv == "Ed25519":
		return guard.EdDSA
	case kty == "RSA":
		return guard.RS256
	}
	return ""
}

// parsePEM parses a PEM key with guard.ParsePEMKey, for alg or the
// algorithm its type implies, with its thumbprint as kid.
func parsePEM(data []byte, alg guard.Algorithm) (*guard.Key, error) {
	if alg == "" {
		a, err := impliedPEMAlg(data)
		if err != nil {
			return nil, err
		}
		alg = a
	}
	k, err := guard.ParsePEMKey(alg, data, "")
	if err != nil {
		return nil, err
	}
	return guard.ParsePEMKey(alg, data, k.Thumbprint())
}

// impliedPEMAlg reads the key type of a PEM block: ES256/ES384/ES512 by
// curve, EdDSA, and RS256 for RSA (PEM does not record PS256; pass --alg).
func impliedPEMAlg(data []byte) (guard.Algorithm, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return "", errors.New("neither a JWK (JSON) nor a PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY", "RSA PRIVATE KEY":
		return guard.RS256, nil
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return "", fmt.Errorf("unsupported PEM block type %q", block.Type)
	}
	if err != nil {
		return "", fmt.Errorf("parsing %s: %v", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return guard.RS256, nil
	case ed25519.PublicKey, ed25519.PrivateKey:
		return guard.EdDSA, nil
	case *ecdsa.PrivateKey:
		return ecAlg(k.Curve)
	case *ecdsa.PublicKey:
		return ecAlg(k.Curve)
	}
	return "", fmt.Errorf("unsupported key type %T", key)
}

func ecAlg(c elliptic.Curve) (guard.Algorithm, error) {
	switch c {
	case elliptic.P256():
		return guard.ES256, nil
	case elliptic.P384():
		return guard.ES384, nil
	case elliptic.P521():
		return guard.ES512, nil
	}
	return "", fmt.Errorf("unsupported EC curve %s", c.Params().Name)
}

// writeSecretFile writes data to path with mode 0600. Without force it
// refuses an existing file (O_EXCL); with force it writes a temporary file
// beside path and renames it over path, so a reader never sees half a key.
func writeSecretFile(path string, data []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return usagef("%s exists; use --force to replace it", path)
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
