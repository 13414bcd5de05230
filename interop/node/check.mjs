// Node clients as people use them, against `tollgate serve --demo`:
// openid-client v6 (discovery from RFC 8414 metadata, then its default
// client authentication, client_secret_post) and simple-oauth2 (body
// credentials, then revoke(), which parses the answer as JSON).
// Usage: node check.mjs BASE_URL   (prints one line per check; exits 1 on failure)
import * as oidc from 'openid-client';
import simpleOauth2 from 'simple-oauth2';

const base = process.argv[2];
const id = 'demo-client';
const secret = 'demo-secret';
let failed = false;

async function check(name, f) {
  try {
    const detail = await f();
    console.log(`ok   ${name}${detail ? ': ' + detail : ''}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

await check('openid-client clientCredentialsGrant (default auth, from metadata)', async () => {
  const config = await oidc.discovery(new URL(base), id, secret, undefined, {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  });
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'locations:read' });
  if (!tokens.access_token) throw new Error('no access_token');
  await oidc.tokenRevocation(config, tokens.access_token);
  return `token_type ${tokens.token_type}, expires_in ${tokens.expires_in}, revoked`;
});

await check('simple-oauth2 getToken (body credentials) and revoke()', async () => {
  const c = new simpleOauth2.ClientCredentials({
    client: { id, secret },
    auth: { tokenHost: base, tokenPath: '/oauth2/token.oauth2', revokePath: '/oauth2/revoke.oauth2' },
    options: { authorizationMethod: 'body' },
  });
  const token = await c.getToken({ scope: 'locations:read' });
  await token.revoke('access_token');
  return 'revoked';
});

process.exit(failed ? 1 : 0);
