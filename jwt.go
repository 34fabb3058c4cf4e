package guard

// Claims is the verified claims set of a JWT access token. (stub; being written)
type Claims struct {
	Issuer    string   `json:"iss,omitzero"`
	Subject   string   `json:"sub,omitzero"`
	Audience  []string `json:"aud,omitzero"`
	ExpiresAt int64    `json:"exp,omitzero"`
	Role      string   `json:"role,omitzero"`
	Roles     []string `json:"roles,omitzero"`
	Scope     string   `json:"scope,omitzero"`
}
