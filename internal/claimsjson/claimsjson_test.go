package claimsjson

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNumericDateTime(t *testing.T) {
	tests := []struct {
		name string
		d    NumericDate
		want time.Time
	}{
		{"unset", NumericDate{}, time.Time{}},
		{"zero", NumericDate{sec: 0, set: true}, time.Unix(0, 0).UTC()},
		{"fraction", NumericDate{sec: 1.5, set: true}, time.Unix(1, 500_000_000).UTC()},
		{"huge clamps", NumericDate{sec: 1e300, set: true}, time.Time{}},
		{"negative huge clamps", NumericDate{sec: -1e300, set: true}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.Time()
			if tt.name == "huge clamps" || tt.name == "negative huge clamps" {
				// Only the direction matters: far future or far past, no wrap-around.
				if (tt.d.sec > 0) != got.After(time.Unix(0, 0)) {
					t.Errorf("got %v, want the sign of %g", got, tt.d.sec)
				}
				return
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRegisteredClaimsListedOnce ties the places that must spell the
// registered claim names (Wire's JSON tags, the decoder's bits) to the one
// list, Registered.
func TestRegisteredClaimsListedOnce(t *testing.T) {
	var tags []string
	typ := reflect.TypeFor[Wire]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" {
			tags = append(tags, name)
		}
	}
	if !slices.Equal(tags, Registered[:]) {
		t.Errorf("Wire tags: got %q, want %q", tags, Registered)
	}
	for i, name := range Registered {
		if got := claimBit(name); got != 1<<i {
			t.Errorf("claimBit(%q): got %b, want %b", name, got, 1<<i)
		}
		if !IsRegistered(name) {
			t.Errorf("IsRegistered(%q): got false, want true", name)
		}
	}
	if seenCnf != 1<<(len(Registered)-1) {
		t.Errorf("seenCnf: got %b, want the last of %d bits", seenScp, len(Registered))
	}
	for _, name := range []string{"", "tenant", "iss ", "client"} {
		if claimBit(name) != 0 || IsRegistered(name) {
			t.Errorf("%q: got registered, want not", name)
		}
	}
	// The decoder matches names exactly; IsRegistered also catches the
	// spellings a loose decoder would read as the claim.
	if claimBit("ISS") != 0 || !IsRegistered("ISS") {
		t.Errorf(`"ISS": got claimBit %b, IsRegistered %v; want 0 and true`, claimBit("ISS"), IsRegistered("ISS"))
	}
}

func TestIsRegistered(t *testing.T) {
	for name, want := range map[string]bool{
		"sub": true, "Sub": true, "EXP": true, "iAt": true, "ſub": true, "client_id": true, "clientId": true,
		"Client-ID": true, "CLIENTID": true, "scp": true, "Roles": true,
		"tenant": false, "subject": false, "sub_tenant": false, "expires": false, "": false, "cid": false, "s ub": false,
	} {
		if got := IsRegistered(name); got != want {
			t.Errorf("IsRegistered(%q): got %v, want %v", name, got, want)
		}
	}
}
