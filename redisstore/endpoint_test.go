package redisstore

import (
	"context"
	"testing"

	"github.com/guardkit/guard/authserver"
)

func TestConfigureTokenEndpoint(t *testing.T) {
	forEachBackend(t, testConfigureTokenEndpoint, standalone, cluster)
}

func testConfigureTokenEndpoint(t *testing.T, b *backend) {
	ctx := context.Background()
	st := b.store(t, "cfg:")
	mine := authserver.MustNewMemoryLimiter(authserver.MemoryLimiterConfig{})
	cfg := authserver.TokenEndpointConfig{Refresh: &authserver.RefreshConfig{}, IPLimiter: mine}
	if err := st.ConfigureTokenEndpoint(ctx, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Revocations.(*Revocations); !ok {
		t.Errorf("Revocations: got %T, want *Revocations", cfg.Revocations)
	}
	if _, ok := cfg.Refresh.Store.(*RefreshTokens); !ok {
		t.Errorf("Refresh.Store: got %T, want *RefreshTokens", cfg.Refresh.Store)
	}
	if l, ok := cfg.Limiter.(*Limiter); !ok || l.name != "pair" || l.args[0] != authserver.DefaultLimiterThreshold {
		t.Errorf("Limiter: got %T %+v, want a *Limiter with threshold %d", cfg.Limiter, cfg.Limiter, authserver.DefaultLimiterThreshold)
	}
	if l, ok := cfg.AccountLimiter.(*Limiter); !ok || l.name != "account" || l.args[0] != authserver.DefaultAccountLimiterThreshold {
		t.Errorf("AccountLimiter: got %T, want a *Limiter with threshold %d", cfg.AccountLimiter, authserver.DefaultAccountLimiterThreshold)
	}
	if cfg.IPLimiter != mine {
		t.Error("a limiter the app set was replaced")
	}
	if cfg.AuthCodes != nil {
		t.Error("AuthCodes set: that would turn the authorization_code grant on")
	}
	// Another service on the same prefix finds the marker.
	revs, err := st.Revocations(RevocationsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := revs.CheckMark(ctx); err != nil {
		t.Errorf("CheckMark after ConfigureTokenEndpoint: %v", err)
	}
	var acfg authserver.AuthorizeEndpointConfig
	var tcfg authserver.TokenEndpointConfig
	st.ConfigureAuthorizeEndpoint(&acfg, &tcfg)
	if acfg.Codes == nil || acfg.Codes != tcfg.AuthCodes {
		t.Errorf("codes: got %v and %v, want one store for both", acfg.Codes, tcfg.AuthCodes)
	}
}

func TestConfigureTokenEndpointRedisDown(t *testing.T) {
	b := privateBackend(t, standalone)
	st := b.store(t, "cfg:")
	b.stop()
	var cfg authserver.TokenEndpointConfig
	if err := st.ConfigureTokenEndpoint(context.Background(), &cfg); err == nil {
		t.Error("Redis down: got nil, want the marker's error")
	}
}
