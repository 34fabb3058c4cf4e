package main

import "html/template"

// loginForm is the sign-in page of the authorization code flow, rendered by
// authserver.LoginPage with the client, the scopes asked for, the username
// typed and the message of a failed attempt. Its empty action posts the form
// back to the same URL, query string included, where the authorization
// endpoint wants it.
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
