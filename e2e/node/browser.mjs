// The browser's part of the authorization code flow, for the e2e scripts:
// load the login page, post the form back to the same URL, and return the
// redirect to the client with the code. out gets the statuses seen.

export async function signIn(authURL, username, password, out) {
  const page = await fetch(authURL, { redirect: 'manual' });
  out.login_page = page.status;
  await page.text();
  const login = await fetch(authURL, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }),
  });
  out.login_post = login.status;
  const location = login.headers.get('location');
  if (!location) {
    throw new Error(`login: ${login.status} without a redirect: ${await login.text()}`);
  }
  return new URL(location);
}
