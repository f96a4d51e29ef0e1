"""Sends one request to the DRF service (drf_service/) with an authd access token and reports the answer.

The request goes through Django's test client: the whole stack of middleware, Django REST
framework and simplejwt, without a server. The token is read from stdin; authd's settings come
from AUTHD_JWKS_URL, AUTHD_ISSUER, AUTHD_AUDIENCE (and AUTHD_ALGORITHM, default ES256).

    AUTHD_JWKS_URL=... AUTHD_ISSUER=... AUTHD_AUDIENCE=... python3 check_drf.py < token

Prints one JSON line {"status", "body", "cause"}. Exit 0: 200 (accepted); exit 1: 401 (refused);
exit 2: anything else, or could not run.

simplejwt answers every bad token with the same 401 "Token is invalid or expired". So that a
test can tell an expired token from a forged one (and from a broken set-up), `cause` names the
PyJWT exception underneath, from simplejwt's own token backend under the same settings.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drf_service.settings")


def main():
    import django

    django.setup()
    from django.test import Client
    from rest_framework_simplejwt.exceptions import TokenBackendError
    from rest_framework_simplejwt.state import token_backend

    token = sys.stdin.read().strip()
    response = Client().get("/whoami", HTTP_AUTHORIZATION=f"Bearer {token}")
    result = {"status": response.status_code, "body": response.json(), "cause": None}
    if response.status_code == 401:
        try:
            token_backend.decode(token)
        except TokenBackendError as error:
            cause = error.__cause__
            result["cause"] = type(cause).__name__ if cause is not None else type(error).__name__
    print(json.dumps(result))
    return {200: 0, 401: 1}.get(response.status_code, 2)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # anything but a verdict: not a refusal
        import traceback

        traceback.print_exc()
        sys.exit(2)
