"""The authorization code flow as a Python web app does it with authlib
against `tollgate serve --demo`: create_authorization_url with PKCE (S256),
a person signing in and consenting (a requests session plays the browser),
then fetch_token with the redirect it was sent to, and the ID token's
claims checked against the live JWKS (PyJWT).
Usage: python check_code.py BASE_URL   (one line; exit 1 on failure)"""
import os
import re
import sys
import traceback

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the demo server is on loopback

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
import jwt

BASE = sys.argv[1]


def hidden(html):
    return {k: v.replace("&quot;", '"').replace("&amp;", "&")
            for k, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', html)}


def flow():
    meta = requests.get(BASE + "/.well-known/openid-configuration").json()
    verifier = generate_token(48)
    client = OAuth2Session("demo-client", "demo-secret", scope="openid profile locations:read",
                           redirect_uri="http://127.0.0.1:8977/callback",
                           code_challenge_method="S256")
    url, state = client.create_authorization_url(meta["authorization_endpoint"],
                                                 code_verifier=verifier, nonce="n-py")
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False).text
    r = browser.post(BASE + "/oauth2/authorize/sign-in", allow_redirects=False,
                     data={**hidden(page), "username": "demo", "password": "demo-password"})
    if r.status_code == 200:
        r = browser.post(BASE + "/oauth2/authorize/consent", allow_redirects=False,
                         data={**hidden(r.text), "decision": "allow"})
    assert r.status_code == 303, r.text
    token = client.fetch_token(meta["token_endpoint"], authorization_response=r.headers["location"],
                               code_verifier=verifier, state=state)
    key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token["id_token"])
    claims = jwt.decode(token["id_token"], key.key, algorithms=meta["id_token_signing_alg_values_supported"],
                        audience="demo-client", issuer=BASE)
    assert claims["nonce"] == "n-py", claims
    api = requests.get(BASE + "/locations", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert api.status_code == 200, api.text
    return f"id_token sub {claims['sub']}, /locations {api.status_code}"


try:
    print(f"ok   authlib authorization code + PKCE: {flow()}")
except Exception:
    print(f"FAIL authlib authorization code + PKCE: {traceback.format_exc()}")
    sys.exit(1)
