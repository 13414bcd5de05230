// Dynamic Client Registration (RFC 7591) with panva's openid-client v6, the
// way its documentation shows dynamicClientRegistration(): discovery (the
// issuer checked, registration_endpoint found there), the metadata
// registered with an initial access token, then the Configuration it
// returns used for a client_credentials grant and an API call. The initial
// access token comes from the admin API, as the demo's admin client.
// Plain http is allowed only because the demo server runs on loopback.
// Usage: node check_registration.mjs BASE_URL   (one line; exits 1 on failure)
import * as client from 'openid-client';

const base = process.argv[2];
let failed = false;

try {
  const admin = await fetch(base + '/oauth2/token.oauth2', {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from('demo-admin:demo-admin-secret').toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=tollgate%3Aadmin',
  }).then((r) => r.json());
  const issued = await fetch(base + '/admin/v1/initial-access-tokens', {
    method: 'POST',
    headers: { authorization: `Bearer ${admin.access_token}` },
  }).then((r) => r.json());
  const config = await client.dynamicClientRegistration(
    new URL(base),
    {
      client_name: 'interop: openid-client',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'locations:read',
    },
    undefined,
    { initialAccessToken: issued.initial_access_token, execute: [client.allowInsecureRequests] },
  );
  const registered = config.clientMetadata();
  const tokens = await client.clientCredentialsGrant(config, { scope: 'locations:read' });
  const api = await fetch(base + '/locations', { headers: { authorization: `Bearer ${tokens.access_token}` } });
  if (api.status !== 200) throw new Error(`/locations answered ${api.status}`);
  console.log(`ok   openid-client dynamicClientRegistration: client ${registered.client_id} (${registered.token_endpoint_auth_method}), client_credentials token, /locations ${api.status}`);
} catch (e) {
  failed = true;
  console.log(`FAIL openid-client dynamicClientRegistration: ${e && e.stack ? e.stack : e}${e && e.cause ? ' cause: ' + JSON.stringify(e.cause) : ''}`);
}
process.exit(failed ? 1 : 0);
