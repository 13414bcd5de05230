// The authorization code flow with panva's oauth4webapi v3, the way its
// README's "Authorization Code Flow" example does it, against `tollgate
// serve --demo`: discoveryRequest + processDiscoveryResponse (the issuer
// checked), PKCE S256, state and nonce; validateAuthResponse (which checks
// `iss`, RFC 9207, as the metadata advertises); authorizationCodeGrantRequest
// + processAuthorizationCodeResponse (the ID token's claims validated);
// userInfoRequest + processUserInfoResponse (sub checked). Plain http is
// allowed only because the demo server runs on loopback.
// Usage: node check_oauth4webapi.mjs BASE_URL   (one line; exits 1 on failure)
import * as oauth from 'oauth4webapi';
import { signInAndConsent } from './browser.mjs';

const base = process.argv[2];
const redirectUri = 'http://127.0.0.1:8976/callback';
const insecure = { [oauth.allowInsecureRequests]: true };
let failed = false;

try {
  const issuer = new URL(base);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
  const client = { client_id: 'demo-client' };
  const clientAuth = oauth.ClientSecretBasic('demo-secret');
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }).toString();
  const back = await signInAndConsent(base, url.href);
  const params = oauth.validateAuthResponse(as, client, back, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, verifier, insecure);
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
  const claims = oauth.getValidatedIdTokenClaims(result);
  const info = await oauth.processUserInfoResponse(as, client, claims.sub,
    await oauth.userInfoRequest(as, client, result.access_token, insecure));
  console.log(`ok   oauth4webapi authorization code + PKCE: id_token sub ${claims.sub}, userinfo name ${info.name}`);
} catch (e) {
  failed = true;
  console.log(`FAIL oauth4webapi authorization code + PKCE: ${e && e.stack ? e.stack : e}${e && e.cause ? ' cause: ' + JSON.stringify(e.cause) : ''}`);
}
process.exit(failed ? 1 : 0);
