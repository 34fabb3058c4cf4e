package app

import (
	"html/template"
)

// loginForm is the example's login page for the authorization code flow,
// rendered by authserver.LoginPage with the client, the scopes asked for,
// the username typed and the message of a failed attempt. An empty action
// posts the form back to the same URL, query string included, which is
// where the AuthorizeEndpoint wants it.
var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Sign in</title>
<h1>Sign in to {{.ClientID}}</h1>
<p>{{.ClientID}} asks for: {{range .Scopes}}<code>{{.}}</code> {{else}}no scopes{{end}}</p>
{{with .Message}}<p role="alert">{{.}}</p>{{end}}
<form method="post" action="">
<label>Username <input name="username" autocomplete="username" value="{{.Username}}" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</html>
`))
