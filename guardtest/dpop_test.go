package guardtest

import (
	"testing"

	"github.com/guardkit/guard"
)

func TestDPoPKeyProofChecks(t *testing.T) {
	k := NewDPoPKey(t)
	d, err := guard.NewDPoP(guard.DPoPConfig{Replay: guard.NewMemoryReplayCache(0)})
	if err != nil {
		t.Fatal(err)
	}
	r := k.DPoPRequest(t, "GET", "https://api.example.com/x?y=1", "tok")
	p, err := d.Check(r, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if p.Thumbprint != k.Thumbprint() {
		t.Errorf("thumbprint: got %s, want %s", p.Thumbprint, k.Thumbprint())
	}
}
