// JWT access tokens from `tollgate serve --demo --token-format jwt`, verified
// as Node resource servers do: jose's jwtVerify against createRemoteJWKSet
// (the live JWKS), with typ, issuer and audience checked. Then tollgate
// revokes the token: its gateway refuses it, the offline verifier cannot know.
// Usage: node check_jwt.mjs BASE_URL   (one line per check; exits 1 on failure)
import { createRemoteJWKSet, jwtVerify } from 'jose';

const base = process.argv[2];
const basic = 'Basic ' + Buffer.from('demo-client:demo-secret').toString('base64');
const jwks = createRemoteJWKSet(new URL(base + '/.well-known/jwks.json'));
let failed = false;

async function check(name, f) {
  try {
    console.log(`ok   ${name}: ${await f()}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

async function post(path, body) {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

const token = async () =>
  (await post('/oauth2/token.oauth2', { grant_type: 'client_credentials', scope: 'locations:read' }))
    .access_token;
const verify = (t) => jwtVerify(t, jwks, { issuer: base, audience: base, typ: 'at+jwt' });

await check('jose jwtVerify + createRemoteJWKSet verify a tollgate JWT', async () => {
  const { payload, protectedHeader } = await verify(await token());
  if (payload.client_id !== 'demo-client') throw new Error(JSON.stringify(payload));
  return `${protectedHeader.alg} kid ${protectedHeader.kid}, scope ${payload.scope}`;
});

await check('a revoked JWT: refused by tollgate, verified offline', async () => {
  const t = await token();
  await post('/oauth2/revoke.oauth2', { token: t });
  const r = await fetch(base + '/locations', { headers: { authorization: `Bearer ${t}` } });
  if (r.status !== 401) throw new Error(`gateway answered ${r.status}`);
  await verify(t);
  return 'tollgate 401, jose still verifies (until exp)';
});

process.exit(failed ? 1 : 0);
