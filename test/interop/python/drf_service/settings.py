# A minimal Django REST framework service that trusts authd's access tokens through
# djangorestframework-simplejwt: keys from authd's JWKS (JWK_URL), no user table (the user is
# the token's `sub`, a TokenUser), no database at all. authd's settings arrive in the
# environment, as a deployed service would get them.
import os

# Django requires one; nothing here is signed with it (authd's tokens are verified with JWKS keys).
SECRET_KEY = "drf-service-test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # simplejwt's authentication class resolves the user model at start
    "rest_framework",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "drf_service.urls"
DATABASES = {}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The user is built from the token (TOKEN_USER_CLASS): no database lookup.
        "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

SIMPLE_JWT = {
    # authd's ACCESS_TOKEN_ALG (ES256 by default; RS256 works too; simplejwt 5.2 has no EdDSA).
    "ALGORITHM": os.environ.get("AUTHD_ALGORITHM", "ES256"),
    "JWK_URL": os.environ["AUTHD_JWKS_URL"],  # e.g. https://auth.example.com/.well-known/jwks.json
    "ISSUER": os.environ["AUTHD_ISSUER"],  # authd's JWT_ISSUER
    "AUDIENCE": os.environ["AUTHD_AUDIENCE"],  # authd's JWT_AUDIENCE
    "LEEWAY": 0,
    "USER_ID_CLAIM": "sub",  # authd's user id (simplejwt's default is user_id)
    "USER_ID_FIELD": "id",
    # authd marks an access token in its header (typ at+jwt), not with a token_type claim, so
    # simplejwt's claim check is switched off. A refresh token is still refused: it is HS256
    # under a secret only authd holds (no kid in the JWKS) with another audience.
    "TOKEN_TYPE_CLAIM": None,
    "JTI_CLAIM": "jti",
    "AUTH_TOKEN_CLASSES": ("rest_framework_simplejwt.tokens.AccessToken",),
    "TOKEN_USER_CLASS": "rest_framework_simplejwt.models.TokenUser",
}
