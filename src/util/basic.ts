/** HTTP Basic credentials (RFC 7617): `base64(user ":" password)`. */

export function basicCredentials(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

/** The `Authorization` value for a username and password. */
export function basicAuthorization(c: { username: string; password: string }): string {
  return 'Basic ' + basicCredentials(c.username, c.password);
}
