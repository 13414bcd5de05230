// A strict RFC 9068 resource server, Auth0's express-oauth2-jwt-bearer, the
// way its README sets it up (`auth({ issuerBaseURL, audience })`, here with
// `strict: true`: typ at+jwt and every claim RFC 9068 requires), in front of
// an Express route, verifying tollgate's JWT access tokens from `serve
// --demo --token-format jwt` against its discovery document and JWKS.
// Usage: node check_resource_server.mjs JWT_BASE_URL   (one line; exits 1 on failure)
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';

const base = process.argv[2];
let failed = false;
let server;

try {
  const app = express();
  app.use(auth({ issuerBaseURL: base, audience: base, strict: true, tokenSigningAlg: 'ES256' }));
  app.get('/orders', (req, res) => res.json({ sub: req.auth.payload.sub, scope: req.auth.payload.scope }));
  // Its refusals as JSON with their WWW-Authenticate, as its README's error handler does.
  app.use((err, req, res, _next) => res.status(err.status || 500).set(err.headers || {}).json({ error: err.code }));
  server = await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
  const api = `http://127.0.0.1:${server.address().port}/orders`;

  const r = await fetch(base + '/oauth2/token.oauth2', {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from('demo-client:demo-secret').toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=locations:read',
  });
  const { access_token: token } = await r.json();
  const call = (t) => fetch(api, { headers: { authorization: `Bearer ${t}` } });
  const ok = await call(token);
  if (ok.status !== 200) throw new Error(`a tollgate JWT was refused: ${ok.status} ${ok.headers.get('www-authenticate')}`);
  const body = await ok.json();
  if (body.sub !== 'demo-client') throw new Error(`sub ${body.sub}`);
  const [h, p, s] = token.split('.');
  const flipped = `${h}.${p}.${s.slice(0, -2)}${s.slice(-2) === 'AA' ? 'BB' : 'AA'}`;
  const forged = await call(flipped);
  if (forged.status !== 401) throw new Error(`a forged signature answered ${forged.status}`);
  console.log(`ok   express-oauth2-jwt-bearer (strict RFC 9068): tollgate's JWT accepted (sub ${body.sub}, scope ${body.scope}), a forged one 401`);
} catch (e) {
  failed = true;
  console.log(`FAIL express-oauth2-jwt-bearer (strict RFC 9068): ${e && e.stack ? e.stack : e}`);
} finally {
  server?.close();
}
process.exit(failed ? 1 : 0);
