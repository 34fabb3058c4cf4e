package guard

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
)

// Secret is a string that must not be logged: a password, a client secret, a
// token. It prints as REDACTED through fmt (every verb, including %#v and
// %x), log/slog ([slog.LogValuer]) and encoding/json (MarshalJSON); convert
// it with string(s) where the real value is needed. Decoding JSON into a
// Secret works as for a string.
type Secret string

const redacted = "REDACTED"

// String returns "REDACTED".
func (Secret) String() string { return redacted }

// GoString returns "REDACTED", for %#v.
func (Secret) GoString() string { return redacted }

// LogValue implements [slog.LogValuer]: the value is "REDACTED".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Format implements [fmt.Formatter] so that no verb (%x, %q, %v…) reveals
// the value; %q writes "REDACTED" quoted.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, `"`+redacted+`"`)
		return
	}
	io.WriteString(f, redacted)
}

// MarshalJSON returns "REDACTED" as a JSON string, so a Secret field never
// leaks through a serialized struct. Put string(s) in a response on purpose.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Equal reports whether s equals t in time that depends only on the lengths.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(t)) == 1
}
