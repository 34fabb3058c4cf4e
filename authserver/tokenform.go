package authserver

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/guardkit/guard"
	"github.com/guardkit/guard/internal/transport"
)

// readForm reads the capped body and applies RFC 6749 §3.2's parameter rules:
// no repeats, no empty values, valid UTF-8.
func (e *TokenEndpoint) readForm(w http.ResponseWriter, r *http.Request) (*tokenRequest, error) {
	if r.ContentLength > e.cfg.MaxBodyBytes {
		return nil, errTokenTooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTokenTooBig
		}
		return nil, errTokenForm
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errTokenForm
	}
	ip := e.transport.ClientIP(r)
	req := &tokenRequest{r: r, form: make(map[string]string, len(values)), ip: ip, ipKey: transport.LimiterIPKey(ip)}
	// The checks are ranked so that the answer does not depend on map order.
	var ferr *guard.Error
	for k, vs := range values {
		switch {
		case k == "resource":
			// The one parameter that may repeat (RFC 8707 §2); its values
			// are checked by the grant, which answers invalid_target.
			req.resources = vs
		case len(vs) > 1:
			ferr = errTokenRepeated
		case !utf8.ValidString(k) || !utf8.ValidString(vs[0]):
			if ferr != errTokenRepeated {
				ferr = errTokenForm
			}
		case vs[0] == "" && k == "token_type_hint":
			// A hint sent without a value is as if omitted (RFC 6749 §3.2);
			// clients send "token_type_hint=" when they have none.
		case vs[0] == "":
			if ferr == nil {
				ferr = errTokenEmpty
			}
		default:
			req.form[k] = vs[0]
		}
	}
	if ferr != nil {
		return nil, ferr
	}
	return req, nil
}

// clientAuth extracts client credentials: HTTP Basic with form-encoded id and
// secret (RFC 6749 §2.3.1), or client_id/client_secret in the body, not both.
func (e *TokenEndpoint) clientAuth(r *http.Request, req *tokenRequest) error {
	auth := r.Header.Values("Authorization")
	bodyID, hasBodyID := req.form["client_id"]
	bodySecret, hasBodySecret := req.form["client_secret"]
	switch {
	case len(auth) > 1:
		return errTokenTwoAuth
	case len(auth) == 1:
		if hasBodyID || hasBodySecret {
			return errTokenTwoAuth
		}
		scheme, cred, ok := strings.Cut(auth[0], " ")
		if !ok || !strings.EqualFold(scheme, "Basic") {
			return errTokenBasic
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimLeft(cred, " "))
		if err != nil {
			return errTokenBasic
		}
		id, secret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return errTokenBasic
		}
		if id, err = url.QueryUnescape(id); err != nil {
			return errTokenBasic
		}
		if secret, err = url.QueryUnescape(secret); err != nil {
			return errTokenBasic
		}
		if id == "" && secret == "" {
			// golang.org/x/oauth2 with AuthStyleInHeader and no ClientID
			// (a public client, FastAPI style) sends "Basic Og==": no client.
			return nil
		}
		if id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
			return errTokenBasic
		}
		if len(id) > MaxAccountNameLen {
			return errTokenLongName
		}
		req.clientID, req.clientSecret, req.basic, req.hasClient = id, guard.Secret(secret), true, true
	case hasBodySecret && !hasBodyID:
		return errTokenClientID
	case hasBodyID:
		if len(bodyID) > MaxAccountNameLen {
			return errTokenLongName
		}
		req.clientID, req.clientSecret, req.hasClient = bodyID, guard.Secret(bodySecret), true
	}
	return nil
}
