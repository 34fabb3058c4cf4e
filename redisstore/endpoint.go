package redisstore

import (
	"context"
	"fmt"

	"github.com/guardkit/guard/authserver"
)

// ConfigureTokenEndpoint puts every store of cfg that is nil on Redis, in
// one call, so that several instances of a service throttle, refresh and
// revoke together:
//   - Revocations: [Store.Revocations], keeping subject revocations as long
//     as the longest refresh family (cfg.Refresh.Lifetime, at least
//     [authserver.DefaultRefreshLifetime]), and marked with
//     [Revocations.Mark] so that services sharing them can check the prefix;
//   - Refresh.Store, when cfg.Refresh is set: [Store.RefreshTokens];
//   - Limiter, IPLimiter and AccountLimiter: [Store.Limiter] with the
//     endpoint's default thresholds ([authserver.DefaultLimiterThreshold]
//     and the others), named "pair", "ip" and "account".
//
// Authorization codes are left alone, since a store there turns the
// authorization_code grant on: use [Store.ConfigureAuthorizeEndpoint].
// Call it before [authserver.NewTokenEndpoint]. It returns Redis's error
// when the marker cannot be written; cfg may then be partly filled.
func (s *Store) ConfigureTokenEndpoint(ctx context.Context, cfg *authserver.TokenEndpointConfig) error {
	if cfg.Revocations == nil {
		retention := authserver.DefaultRefreshLifetime
		if cfg.Refresh != nil && cfg.Refresh.Lifetime > retention {
			retention = cfg.Refresh.Lifetime
		}
		revs, err := s.Revocations(RevocationsConfig{SubjectRetention: retention})
		if err != nil {
			return err
		}
		if err := revs.Mark(ctx); err != nil {
			return fmt.Errorf("redisstore: marking the revocation namespace: %w", err)
		}
		cfg.Revocations = revs
	}
	if cfg.Refresh != nil && cfg.Refresh.Store == nil {
		cfg.Refresh.Store = s.RefreshTokens()
	}
	for _, l := range []struct {
		dst       *authserver.LoginLimiter
		name      string
		threshold int
	}{
		{&cfg.Limiter, "pair", authserver.DefaultLimiterThreshold},
		{&cfg.IPLimiter, "ip", authserver.DefaultIPLimiterThreshold},
		{&cfg.AccountLimiter, "account", authserver.DefaultAccountLimiterThreshold},
	} {
		if *l.dst != nil {
			continue
		}
		lim, err := s.Limiter(LimiterConfig{Name: l.name, Threshold: l.threshold})
		if err != nil {
			return err
		}
		*l.dst = lim
	}
	return nil
}

// ConfigureAuthorizeEndpoint gives the authorization endpoint and the token
// endpoint one code store on Redis ([Store.AuthCodes]), where either has
// none: a code issued by one instance is redeemed at any other, once.
func (s *Store) ConfigureAuthorizeEndpoint(acfg *authserver.AuthorizeEndpointConfig, tcfg *authserver.TokenEndpointConfig) {
	codes := s.AuthCodes()
	if acfg != nil && acfg.Codes == nil {
		acfg.Codes = codes
	}
	if tcfg != nil && tcfg.AuthCodes == nil {
		tcfg.AuthCodes = codes
	}
}

// ConfigureRegistration puts the registration endpoint's Clients and
// Limiter on Redis where they are nil: [Store.Clients], and [Store.Limiter]
// named "register" with [authserver.DefaultRegistrationThreshold], so that
// every instance counts one client IP's registrations together. Give the
// token and authorization endpoints the same registry ([Store.Clients]) as
// their Clients.
func (s *Store) ConfigureRegistration(cfg *authserver.RegistrationConfig) error {
	if cfg.Clients == nil {
		cfg.Clients = s.Clients()
	}
	if cfg.Limiter == nil {
		lim, err := s.Limiter(LimiterConfig{Name: "register", Threshold: authserver.DefaultRegistrationThreshold})
		if err != nil {
			return err
		}
		cfg.Limiter = lim
	}
	return nil
}
