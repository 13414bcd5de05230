// The authorization code flow as a Node web app does it with openid-client
// v6 against `tollgate serve --demo`: default discovery() (OpenID Connect),
// buildAuthorizationUrl with PKCE, state and nonce; a person signing in and
// consenting (played here with fetch, a cookie jar and the forms' hidden
// fields); authorizationCodeGrant, which checks the ID token; fetchUserInfo.
// Usage: node check_code.mjs BASE_URL   (prints one line; exits 1 on failure)
import * as oidc from 'openid-client';
import { signInAndConsent } from './browser.mjs';

const base = process.argv[2];
const redirectUri = 'http://127.0.0.1:8976/callback';
let failed = false;

try {
  const config = await oidc.discovery(new URL(base), 'demo-client', 'demo-secret', undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email locations:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const back = await signInAndConsent(base, url);
  const tokens = await oidc.authorizationCodeGrant(config, back, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
  const claims = tokens.claims();
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  const api = await fetch(base + '/locations', { headers: { authorization: `Bearer ${tokens.access_token}` } });
  if (api.status !== 200) throw new Error(`/locations answered ${api.status}`);
  console.log(`ok   openid-client authorization code + PKCE: id_token sub ${claims.sub}, userinfo name ${info.name}, /locations 200`);
} catch (e) {
  failed = true;
  console.log(`FAIL openid-client authorization code + PKCE: ${e && e.stack ? e.stack : e}`);
}
process.exit(failed ? 1 : 0);
