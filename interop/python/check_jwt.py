"""JWT access tokens from `tollgate serve --demo --token-format jwt`, verified
as resource servers written in Python do: PyJWT's PyJWKClient fetches the
live JWKS, jwt.decode checks signature, issuer, audience and expiry. Then
tollgate revokes the token: its gateway refuses it at once, while the
offline verifier, which cannot know, still accepts it until `exp`.
Usage: python check_jwt.py BASE_URL   (one line per check; exit 1 on failure)"""
import sys
import traceback

import jwt
import requests

BASE = sys.argv[1]
ID, SECRET = "demo-client", "demo-secret"
failed = False


def check(name, f):
    global failed
    try:
        print(f"ok   {name}: {f()}")
    except Exception:
        failed = True
        print(f"FAIL {name}: {traceback.format_exc()}")


def token():
    r = requests.post(BASE + "/oauth2/token.oauth2", auth=(ID, SECRET),
                      data={"grant_type": "client_credentials", "scope": "locations:read"})
    r.raise_for_status()
    return r.json()["access_token"]


def verify(t):
    jwks = jwt.PyJWKClient(BASE + "/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(t)
    return jwt.decode(t, key.key, algorithms=["ES256", "EdDSA", "RS256"],
                      audience=BASE, issuer=BASE,
                      options={"require": ["exp", "iat", "nbf", "sub", "jti"]})


def pyjwt_verifies():
    t = token()
    header = jwt.get_unverified_header(t)
    assert header["typ"] == "at+jwt", header
    claims = verify(t)
    assert claims["client_id"] == ID and claims["scope"] == "locations:read", claims
    return f"{header['alg']} kid {header['kid']}, sub {claims['sub']}"


def revoked_refused_by_tollgate_but_valid_offline():
    t = token()
    r = requests.get(BASE + "/locations", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 200, r.text
    requests.post(BASE + "/oauth2/revoke.oauth2", auth=(ID, SECRET),
                  data={"token": t}).raise_for_status()
    r = requests.get(BASE + "/locations", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token", r.text
    verify(t)
    return "tollgate 401 invalid_token, PyJWT still verifies (until exp)"


check("PyJWT + PyJWKClient verify a tollgate JWT", pyjwt_verifies)
check("a revoked JWT: refused by tollgate, verified offline", revoked_refused_by_tollgate_but_valid_offline)
sys.exit(1 if failed else 0)
