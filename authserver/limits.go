package authserver

// The thresholds of the token endpoint's default limiters (a
// [MemoryLimiter] each): failures before the first wait. Stores of other
// kinds (package redisstore) use the same numbers.
const (
	// DefaultLimiterThreshold is TokenEndpointConfig.Limiter's: per
	// (account, client IP) pair.
	DefaultLimiterThreshold = 5
	// DefaultIPLimiterThreshold is TokenEndpointConfig.IPLimiter's: per
	// client IP, whatever the account.
	DefaultIPLimiterThreshold = 20
	// DefaultAccountLimiterThreshold is TokenEndpointConfig.AccountLimiter's:
	// per account, from addresses it never logged in from.
	DefaultAccountLimiterThreshold = 50
)
