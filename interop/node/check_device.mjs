// The Device Authorization Grant (RFC 8628) with panva's oauth4webapi v3,
// the way its README's "Device Authorization Grant" example does it,
// against `tollgate serve --demo`: discovery (the issuer checked, the
// device_authorization_endpoint found there), deviceAuthorizationRequest +
// processDeviceAuthorizationResponse, then deviceCodeGrantRequest +
// processDeviceCodeResponse in a loop that waits `interval` and adds 5 s on
// slow_down, until the person (played by browser.mjs on the /device page)
// has allowed it; the ID token's claims validated, userinfo's sub checked.
// Plain http is allowed only because the demo server runs on loopback.
// Usage: node check_device.mjs BASE_URL   (one line; exits 1 on failure)
import * as oauth from 'oauth4webapi';
import { allowDevice } from './browser.mjs';

const base = process.argv[2];
const insecure = { [oauth.allowInsecureRequests]: true };
let failed = false;

try {
  const issuer = new URL(base);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
  const client = { client_id: 'demo-client' };
  const clientAuth = oauth.ClientSecretBasic('demo-secret');
  const started = await oauth.processDeviceAuthorizationResponse(as, client,
    await oauth.deviceAuthorizationRequest(as, client, clientAuth, { scope: 'openid profile locations:read' }, insecure));
  let { device_code, verification_uri_complete, interval = 5 } = started;
  // The first poll, before the person has decided: authorization_pending.
  let pendingSeen = false;
  const poll = async () => {
    await new Promise((r) => setTimeout(r, interval * 1000));
    const response = await oauth.deviceCodeGrantRequest(as, client, clientAuth, device_code, insecure);
    return oauth.processDeviceCodeResponse(as, client, response).catch((err) => {
      if (err instanceof oauth.ResponseBodyError) {
        switch (err.error) {
          case 'slow_down':
            interval += 5;
          // fall through
          case 'authorization_pending':
            pendingSeen = true;
            return undefined;
        }
      }
      throw err;
    });
  };
  let result = await poll();
  if (result !== undefined) throw new Error('tokens before the person decided');
  await allowDevice(base, verification_uri_complete);
  while (result === undefined) result = await poll();
  const claims = oauth.getValidatedIdTokenClaims(result);
  const info = await oauth.processUserInfoResponse(as, client, claims.sub,
    await oauth.userInfoRequest(as, client, result.access_token, insecure));
  if (!pendingSeen) throw new Error('never told authorization_pending');
  console.log(`ok   oauth4webapi device authorization grant: user code ${started.user_code}, id_token sub ${claims.sub}, userinfo name ${info.name}, scope ${result.scope}`);
} catch (e) {
  failed = true;
  console.log(`FAIL oauth4webapi device authorization grant: ${e && e.stack ? e.stack : e}${e && e.cause ? ' cause: ' + JSON.stringify(e.cause) : ''}`);
}
process.exit(failed ? 1 : 0);
