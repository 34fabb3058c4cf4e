package app

import (
	"html/template"
	"net/http"
	"strings"
)

// DefaultDocsAssetsURL is where /docs loads Swagger UI from when
// Config.DocsAssetsURL is empty: npm swagger-ui-dist 5 on a CDN, as FastAPI does.
const DefaultDocsAssetsURL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"

// DocsClientID is the registered public client of Swagger UI's
// authorization code flow (with PKCE): its redirect URI is
// <Issuer>/docs/oauth2-redirect.html.
const DocsClientID = "docs"

// docsPage is Swagger UI as FastAPI serves it: the document from
// /openapi.json, "Authorize" kept across reloads (persistAuthorization), and
// the authorization code flow with PKCE returning to this server's
// /docs/oauth2-redirect.html. No client id is filled in: the password flow
// works without one, the code flow takes "docs".
var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>guard example server - Swagger UI</title>
<link rel="stylesheet" href="{{.Assets}}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{{.Assets}}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  persistAuthorization: true,
  oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
window.ui.initOAuth({usePkceWithAuthorizationCodeGrant: true});
</script>
</body>
</html>
`))

// docsHandler serves the Swagger UI page with its assets from assets (a
// base URL holding swagger-ui.css and swagger-ui-bundle.js).
func docsHandler(assets string) http.Handler {
	assets = strings.TrimSuffix(assets, "/")
	if assets == "" {
		assets = DefaultDocsAssetsURL
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		_ = docsPage.Execute(w, struct{ Assets string }{assets})
	})
}

// oauth2RedirectPage is Swagger UI's oauth2-redirect.html (swagger-ui-dist,
// Apache-2.0), written out here so that it is served from this server's
// origin: it hands the authorization response to the Swagger UI window
// that opened it, which must be same-origin. The authorization server
// answers in the query (response_mode query), and with "iss" (RFC 9207).
const oauth2RedirectPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Swagger UI: OAuth2 Redirect</title></head>
<body>
<script>
(function () {
  var oauth2 = window.opener && window.opener.swaggerUIRedirectOauth2;
  if (!oauth2) { document.body.textContent = "Open this page from Swagger UI."; return; }
  var raw = /code|token|error/.test(window.location.hash) ? window.location.hash.substring(1).replace("?", "&") : window.location.search.substring(1);
  var params = {};
  new URLSearchParams(raw).forEach(function (v, k) { params[k] = v; });
  var isValid = params.state === oauth2.state;
  var flow = oauth2.auth.schema.get("flow");
  var codeFlow = flow === "accessCode" || flow === "authorizationCode" || flow === "authorization_code";
  if (!codeFlow || oauth2.auth.code) {
    oauth2.callback({auth: oauth2.auth, token: params, isValid: isValid, redirectUrl: oauth2.redirectUrl});
  } else {
    if (!isValid) {
      oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "warning",
        message: "Authorization may be unsafe: the state returned differs from the state sent"});
    }
    if (params.code) {
      delete oauth2.state;
      oauth2.auth.code = params.code;
      oauth2.callback({auth: oauth2.auth, redirectUrl: oauth2.redirectUrl});
    } else {
      var msg = params.error ? "[" + params.error + "]: " + (params.error_description || "no code received from the server") : "[Authorization failed]: no code received from the server";
      oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "error", message: msg});
    }
  }
  window.close();
})();
</script>
</body>
</html>
`

// oauth2Redirect serves oauth2RedirectPage. The authorization code in its
// URL must not leak: no referrer, no caching.
func oauth2Redirect(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(oauth2RedirectPage))
}
