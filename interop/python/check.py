"""Python clients as people use them, against `tollgate serve --demo`:
authlib with client_secret_post, and requests-oauthlib's
BackendApplicationClient with include_client_id=True (body credentials).
Usage: python check.py BASE_URL   (one line per check; exit 1 on failure)"""
import os
import sys
import traceback

# oauthlib refuses plain http unless told: the demo server is on loopback.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

BASE = sys.argv[1]
TOKEN_URL = BASE + "/oauth2/token.oauth2"
REVOKE_URL = BASE + "/oauth2/revoke.oauth2"
ID, SECRET = "demo-client", "demo-secret"
failed = False


def check(name, f):
    global failed
    try:
        print(f"ok   {name}: {f()}")
    except Exception:
        failed = True
        print(f"FAIL {name}: {traceback.format_exc()}")


def authlib_post():
    s = AuthlibSession(ID, SECRET, scope="locations:read",
                       token_endpoint_auth_method="client_secret_post")
    token = s.fetch_token(TOKEN_URL, grant_type="client_credentials")
    r = s.revoke_token(REVOKE_URL, token["access_token"])
    r.raise_for_status()
    return f"expires_in {token['expires_in']}, revoked ({r.status_code})"


def requests_oauthlib_body():
    client = BackendApplicationClient(client_id=ID, scope=["locations:read"])
    s = OAuth2Session(client=client)
    token = s.fetch_token(token_url=TOKEN_URL, client_id=ID, client_secret=SECRET,
                          include_client_id=True)
    r = s.get(BASE + "/locations")
    r.raise_for_status()
    return f"token_type {token['token_type']}, /locations {r.status_code}"


check("authlib client_secret_post, then revoke", authlib_post)
check("requests-oauthlib include_client_id=True, then an API call", requests_oauthlib_body)
sys.exit(1 if failed else 0)
