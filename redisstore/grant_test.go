package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/guardkit/guard/authserver"
)

// TestGrantBindingsKept: the resource indicators (RFC 8707) and the DPoP key
// thumbprint (RFC 9449) of a grant survive every read of a code and of a
// refresh family: lookup, redemption, rotation, retry and reuse.
func TestGrantBindingsKept(t *testing.T) { forEachBackend(t, testGrantBindingsKept) }

func testGrantBindingsKept(t *testing.T, srv *backend) {
	st := srv.store(t, "t:")
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	res := []string{"https://mcp.example/mcp", "urn:example:api"}
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	d := func(b byte) [32]byte { return [32]byte{b} }
	check := func(t *testing.T, what string, gotRes []string, gotJKT string, wantRes []string, wantJKT string) {
		t.Helper()
		if !slices.Equal(gotRes, wantRes) || gotJKT != wantJKT {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", what, gotRes, gotJKT, wantRes, wantJKT)
		}
	}
	for _, c := range []struct {
		name string
		res  []string
		jkt  string
	}{{"bound", res, jkt}, {"unbound", nil, ""}} {
		t.Run(c.name, func(t *testing.T) {
			ac := st.AuthCodes()
			code := authserver.AuthCode{ClientID: "spa", Username: "alice", Resources: c.res, KeyThumbprint: c.jkt, ExpiresAt: now.Add(time.Minute)}
			dig := d(1)
			if c.jkt == "" {
				dig = d(2)
			}
			if err := ac.SaveAuthCode(ctx, dig, code); err != nil {
				t.Fatal(err)
			}
			got, err := ac.LookupAuthCode(ctx, dig)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "code lookup", got.Resources, got.KeyThumbprint, c.res, c.jkt)
			got, _, err = ac.RedeemAuthCode(ctx, dig, authserver.AuthRedemption{Now: now, RetryUntil: now.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			check(t, "code redemption", got.Resources, got.KeyThumbprint, c.res, c.jkt)

			rs := st.RefreshTokens()
			fam := authserver.RefreshFamily{ID: "fam-" + c.name, ClientID: "spa", Username: "alice", Subject: "u1", Resources: c.res,
				KeyThumbprint: c.jkt, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
			if err := rs.CreateRefreshFamily(ctx, fam, d(1), now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			f, _, err := rs.LookupRefreshToken(ctx, fam.ID, d(1), now)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "family lookup", f.Resources, f.KeyThumbprint, c.res, c.jkt)
			rot := authserver.RefreshRotation{Family: fam.ID, ClientID: "spa", Presented: d(1), Next: d(2), Now: now,
				IdleUntil: now.Add(time.Minute), GraceUntil: now.Add(time.Second), Sealed: []byte("s")}
			for _, step := range []string{"rotation", "retry"} {
				f, _, err := rs.RotateRefreshToken(ctx, rot)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				check(t, "family "+step, f.Resources, f.KeyThumbprint, c.res, c.jkt)
			}
			rot.Now = now.Add(2 * time.Second)
			f, _, err = rs.RotateRefreshToken(ctx, rot)
			if err == nil {
				t.Fatal("reuse: no error")
			}
			check(t, "family reuse", f.Resources, f.KeyThumbprint, c.res, c.jkt)
		})
	}
}
