"""Verifies one authd access token as a Python service using PyJWT would.

Keys come from authd's JWKS through PyJWKClient (picked by the token's kid); the algorithm is
pinned; iss, aud and exp are checked and required; the header's typ must be at+jwt (RFC 9068),
the check PyJWT leaves to its caller. The token is read from stdin, never from argv (which
`ps` shows to everyone on the machine).

    python3 verify_pyjwt.py --jwks-url URL --issuer ISS --audience AUD [--algorithm ES256] < token

Prints one JSON line. Exit 0: accepted, {"accepted": true, "claims": {...}}; exit 1: refused,
{"accepted": false, "error": "<PyJWT exception class>", "message": "..."}; exit 2: could not
run at all (a traceback on stderr) — never to be mistaken for a refusal.
"""
import argparse
import json
import sys

import jwt


def verify(token, jwks_url, issuer, audience, algorithm):
    signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=[algorithm],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    # Read after the signature verified, so this header is the signed one (PyJWT 2.6 has no
    # public decode_complete).
    if jwt.get_unverified_header(token).get("typ") != "at+jwt":
        raise jwt.InvalidTokenError("typ is not at+jwt: not an access token")
    return claims


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--algorithm", default="ES256")
    args = parser.parse_args()
    token = sys.stdin.read().strip()
    try:
        claims = verify(token, args.jwks_url, args.issuer, args.audience, args.algorithm)
    except jwt.PyJWTError as error:
        print(json.dumps({"accepted": False, "error": type(error).__name__, "message": str(error)}))
        return 1
    print(json.dumps({"accepted": True, "claims": claims}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # anything but a verdict: not a refusal
        import traceback
        traceback.print_exc()
        sys.exit(2)
