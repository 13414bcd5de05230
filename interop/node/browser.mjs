// A person at a browser, played with fetch for the interop checks: cookies
// kept, redirects not followed, and the sign-in and consent forms filled
// from the page's hidden fields. Shared by check_code.mjs and
// check_oauth4webapi.mjs.

/** A browser: cookies kept, redirects not followed. */
export function browser() {
  const jar = new Map();
  const remember = (r) => {
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return r;
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return {
    get: async (url) => remember(await fetch(url, { redirect: 'manual', headers: { cookie: cookie() } })),
    post: async (url, fields) =>
      remember(await fetch(url, {
        method: 'POST', redirect: 'manual',
        headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
      })),
  };
}

/** The hidden fields of a page's form. */
export function hidden(html) {
  const fields = {};
  for (const m of html.matchAll(/type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[m[1]] = m[2].replaceAll('&quot;', '"').replaceAll('&amp;', '&');
  }
  return fields;
}

/** Opens `url` as the demo user, signs in and consents: the redirect back. */
export async function signInAndConsent(base, url) {
  const b = browser();
  let r = await b.get(url);
  let page = await r.text();
  r = await b.post(base + '/oauth2/authorize/sign-in', { ...hidden(page), username: 'demo', password: 'demo-password' });
  if (r.status === 200) {
    page = await r.text();
    r = await b.post(base + '/oauth2/authorize/consent', { ...hidden(page), decision: 'allow' });
  }
  if (r.status !== 303) throw new Error(`expected a redirect, got ${r.status}`);
  return new URL(r.headers.get('location'));
}
