package syntax

import (
	"strings"
	"testing"
)

func TestIsScopeToken(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"read", true},
		{"urn:example:read", true},
		{"https://api.example/read", true},
		{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~", true},
		{"", false},
		{"read admin", false},
		{"read\tadmin", false},
		{"read\nadmin", false},
		{"read\x00", false},
		{"read\x7f", false},
		{`say"hi"`, false},
		{`back\slash`, false},
		{"café", false},
		{"read\u00a0admin", false},
	}
	for _, tt := range tests {
		if got := IsScopeToken(tt.s); got != tt.want {
			t.Errorf("IsScopeToken(%q): got %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"Bearer", true}, {"X-API-Key", true}, {"!#$%&'*+-.^_`|~09azAZ", true},
		{"", false}, {"a b", false}, {"a,b", false}, {`a"b`, false}, {"a:b", false}, {"ä", false}, {"a\x00", false},
	} {
		if got := IsToken(tt.s); got != tt.want {
			t.Errorf("IsToken(%q): got %v, want %v", tt.s, got, tt.want)
		}
		for i := 0; i < len(tt.s); i++ {
			if tt.want && !IsTChar(tt.s[i]) {
				t.Errorf("IsTChar(%q): got false in token %q", tt.s[i], tt.s)
			}
		}
	}
}

func TestQuoting(t *testing.T) {
	for _, tt := range []struct {
		s, written string
		quotable   bool
	}{
		{"api", "api", true},
		{"a b!#~", "a b!#~", true},
		{`say "hi"`, "say ?hi?", false},
		{`back\slash`, "back?slash", false},
		{"line\r\nSet-Cookie: x", "line??Set-Cookie: x", false},
		{"tab\there", "tab?here", false},
		{"café", "caf??", false},
		{"", "", true},
	} {
		if got := IsQuotable(tt.s); got != tt.quotable {
			t.Errorf("IsQuotable(%q): got %v, want %v", tt.s, got, tt.quotable)
		}
		var b strings.Builder
		WriteQuotedSafe(&b, tt.s)
		if got := b.String(); got != tt.written {
			t.Errorf("WriteQuotedSafe(%q): got %q, want %q", tt.s, got, tt.written)
		}
	}
}

func TestIsBearer(t *testing.T) {
	for _, tt := range []struct {
		c    string
		want bool
	}{
		{"Bearer", true}, {`Bearer realm="api"`, true}, {`bearer realm="api"`, true}, {`BEARER`, true},
		{"Bearerx", false}, {"Basic", false}, {"Bear", false}, {`ApiKey realm="api"`, false}, {"", false},
	} {
		if got := IsBearer(tt.c); got != tt.want {
			t.Errorf("IsBearer(%q): got %v, want %v", tt.c, got, tt.want)
		}
	}
}
