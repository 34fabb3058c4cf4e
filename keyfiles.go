package guard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DefaultFilePollInterval is how often [KeySet.Run] reads KeySetConfig.KeyFiles
// when KeySetConfig.PollInterval is zero.
const DefaultFilePollInterval = 5 * time.Second

// maxKeyFileBytes bounds a key file.
const maxKeyFileBytes = 1 << 20

// KeyFile is a file that holds one of a [KeySet]'s keys (KeySetConfig.KeyFiles),
// such as a mounted secret managed by another system.
type KeyFile struct {
	// Path is a PEM file (a private or public key, see [ParsePEMKey]) or a
	// JSON file holding one JWK, or a JWK Set whose first key is taken
	// (private members allowed: the file is trusted like a PEM key).
	Path string
	// Alg is the algorithm of a PEM key. A JWK names its own in "alg";
	// when both are set they must agree.
	Alg Algorithm
	// KID is the kid of a PEM key. Default: the JWK's own kid, or else
	// the key's RFC 7638 thumbprint.
	KID string
}

// fileKeys is a KeySet's link to its key files.
type fileKeys struct {
	files []KeyFile
	poll  time.Duration
	sum   [sha256.Size]byte // of the contents last applied; guarded by KeySet.mu
}

// loadKeyFiles reads every file and returns its key, and a digest of all
// the contents, to tell a change.
func loadKeyFiles(files []KeyFile) ([]*Key, [sha256.Size]byte, error) {
	h := sha256.New()
	var keys []*Key
	var errs []error
	for i, f := range files {
		k, data, err := readKeyFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: KeyFiles[%d] %s: %w", i, f.Path, err))
			continue
		}
		if slices.ContainsFunc(keys, func(o *Key) bool { return o.kid == k.kid }) {
			errs = append(errs, fmt.Errorf("guard: KeyFiles[%d] %s: kid %q is in another file", i, f.Path, k.kid))
		}
		keys = append(keys, k)
		h.Write(data)
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if err := errors.Join(errs...); err != nil {
		return nil, sum, err
	}
	if !slices.ContainsFunc(keys, (*Key).CanSign) {
		return nil, sum, errors.New("guard: KeyFiles hold no key that can sign")
	}
	return keys, sum, nil
}

func readKeyFile(f KeyFile) (*Key, []byte, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	data, err := readAtMost(fh, maxKeyFileBytes)
	if err != nil {
		return nil, nil, err
	}
	trimmed := bytes.TrimSpace(data)
	var k *Key
	if bytes.HasPrefix(trimmed, []byte("{")) {
		raw := jsontext.Value(trimmed)
		var set struct {
			Keys []jsontext.Value `json:"keys"`
		}
		if json.Unmarshal(trimmed, &set, json.RejectUnknownMembers(false)) == nil && len(set.Keys) > 0 {
			raw = set.Keys[0]
		}
		if k, err = ParseJWK(f.Alg, raw); err != nil {
			return nil, nil, err
		}
		if f.KID != "" && k.kid != "" && f.KID != k.kid {
			return nil, nil, fmt.Errorf("KID %q but the JWK says %q", f.KID, k.kid)
		}
		if k.kid == "" {
			k.kid = f.KID
		}
	} else {
		if f.Alg == "" {
			return nil, nil, errors.New("a PEM key needs its Alg")
		}
		if k, err = ParsePEMKey(f.Alg, data, f.KID); err != nil {
			return nil, nil, err
		}
	}
	if k.hmac != nil {
		return nil, nil, errors.New("an HMAC secret in a key file is not supported; use an asymmetric key")
	}
	if k.kid == "" {
		if k.kid = k.Thumbprint(); k.kid == "" {
			return nil, nil, errors.New("no kid and no thumbprint")
		}
	}
	return k, data, nil
}

func readAtMost(f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("over %d bytes", limit)
	}
	return data, nil
}

// ReloadKeyFiles reads KeySetConfig.KeyFiles again and, when their contents
// changed, makes the set follow them: keys new to the files are added; the
// first key in file order that can sign becomes the signing key; keys gone
// from the files are retired (they verify for RetireAfter more). A file
// that cannot be read or parsed changes nothing: the last good keys keep
// serving, and the error is returned. [KeySet.Run] calls it every
// PollInterval; call it yourself on a signal, for example. It returns nil
// at once for a set without KeyFiles.
//
// Publish a new key before it signs: list its file after the signing key's
// first, wait at least the verifiers' refresh interval, then put it first.
func (s *KeySet) ReloadKeyFiles() error {
	if s.files == nil {
		return nil
	}
	keys, sum, err := loadKeyFiles(s.files.files)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sum == s.files.sum {
		return nil
	}
	now := s.now()
	s.advanceLocked(now)
	st := s.cur.Load()
	var entries []*keyEntry
	var signing *keyEntry
	for _, k := range keys {
		e := st.entry(k.kid)
		switch {
		case e == nil:
			var err error
			if e, err = newKeyEntry(k); err != nil {
				return err
			}
		case !sameMaterial(e.key, k) || e.key.alg != k.alg || e.key.CanSign() != k.CanSign():
			return fmt.Errorf("guard: KeyFiles: kid %q now names another key; give a new key a new kid", k.kid)
		}
		if signing == nil && k.CanSign() {
			if e != st.signing {
				p := *e
				p.since, p.until = now, time.Time{}
				e = &p
			}
			signing = e
		} else if !e.until.IsZero() {
			p := *e // back in the files: verifies again without an end
			p.until = time.Time{}
			e = &p
		}
		entries = append(entries, e)
	}
	for _, e := range st.entries {
		if slices.ContainsFunc(keys, func(k *Key) bool { return k.kid == e.key.kid }) {
			continue
		}
		if e.until.IsZero() {
			r := *e
			r.until = now.Add(s.retireAfter)
			e = &r
		}
		entries = append(entries, e)
	}
	if err := s.storeLocked(entries, signing); err != nil {
		return err
	}
	s.files.sum = sum
	return nil
}

// reloadFiles is Run's call of ReloadKeyFiles.
func (s *KeySet) reloadFiles(ctx context.Context) {
	if err := s.ReloadKeyFiles(); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "guard: key files: keeping the last good keys", "err", err)
	}
}
