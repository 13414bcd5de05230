// A person at a browser, played with fetch for the interop checks: cookies
// kept, redirects not followed, and the sign-in and consent forms filled
// from the page's hidden fields; and the device page (RFC 8628). Shared by
// check_code.mjs, check_oauth4webapi.mjs and check_device.mjs.

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

/**
 * A person on another screen (RFC 8628): opens `complete` (the device's
 * `verification_uri_complete`), confirms the code it fills in, signs in as
 * the demo user and allows the device. The last page's HTML.
 */
export async function allowDevice(base, complete) {
  const b = browser();
  let r = await b.get(complete);
  if (r.status !== 303) throw new Error(`/device answered ${r.status}, not a redirect`);
  r = await b.get(new URL(r.headers.get('location'), base).href);
  let page = await r.text();
  const code = page.match(/name="user_code" value="([^"]*)"/);
  if (!code) throw new Error('the code page has no code filled in');
  r = await b.post(base + '/oauth2/device', { ...hidden(page), user_code: code[1] });
  page = await r.text();
  r = await b.post(base + '/oauth2/device/sign-in', { ...hidden(page), username: 'demo', password: 'demo-password' });
  page = await r.text();
  r = await b.post(base + '/oauth2/device/confirm', { ...hidden(page), decision: 'allow' });
  page = await r.text();
  if (!page.includes('Device connected')) throw new Error(`the device was not connected: ${r.status}`);
  return page;
}
