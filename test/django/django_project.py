"""A throwaway Django project, for authd's import tests and benchmark (test/django/, bench/).

    python3 django_project.py users DB            # users made by Django itself, one per hasher; JSON on stdout
    python3 django_project.py bulk DB COUNT       # COUNT users via bulk_create with precomputed hashes
    python3 django_project.py verify JWKS_URL ALG # the access token on stdin, checked by DRF + simplejwt set
                                                  # up as docs/moving-from-django.md says; JSON on stdout

DB is a SQLite file path or a postgresql:// URL (psycopg2). Runs Django's own migrations, so the
tables are exactly the ones a Django project has. Debian's Django (python3-django) is enough:
no virtualenv, no PyPI.
"""
import json
import os
import sys
from urllib.parse import urlparse

import django
from django.conf import settings

HASHERS = {
    'pbkdf2_sha256': 'django.contrib.auth.hashers.PBKDF2PasswordHasher',
    'pbkdf2_sha1': 'django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher',
    'argon2': 'django.contrib.auth.hashers.Argon2PasswordHasher',
    'bcrypt_sha256': 'django.contrib.auth.hashers.BCryptSHA256PasswordHasher',
    'bcrypt': 'django.contrib.auth.hashers.BCryptPasswordHasher',
    'scrypt': 'django.contrib.auth.hashers.ScryptPasswordHasher',  # Django 4.0+
}


def database(target):
    if target.startswith('postgres'):
        url = urlparse(target)
        return {'ENGINE': 'django.db.backends.postgresql', 'NAME': url.path.lstrip('/'), 'USER': url.username or 'postgres',
                'PASSWORD': url.password or '', 'HOST': url.hostname or '127.0.0.1', 'PORT': str(url.port or 5432)}
    return {'ENGINE': 'django.db.backends.sqlite3', 'NAME': target}


def available_hashers():
    """The hashers this Django has (scrypt: 4.0+) and whose library is installed (argon2-cffi, bcrypt)."""
    import importlib
    from django.contrib.auth import hashers as module
    found = []
    for name, path in HASHERS.items():
        if not hasattr(module, path.rsplit('.', 1)[1]):
            continue
        library = {'argon2': 'argon2', 'bcrypt_sha256': 'bcrypt', 'bcrypt': 'bcrypt'}.get(name)
        try:
            if library:
                importlib.import_module(library)
        except ImportError:
            continue
        found.append(name)
    return found


def verify(jwks_url, algorithm, issuer):
    """simplejwt verifying an authd access token from authd's JWKS, configured as the docs say."""
    settings.configure(
        INSTALLED_APPS=['django.contrib.auth', 'django.contrib.contenttypes', 'rest_framework'],
        DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}},
        SECRET_KEY='not used: the tokens are verified with the JWKS keys',
        SIMPLE_JWT={
            'ALGORITHM': algorithm,
            'JWK_URL': jwks_url,
            'ISSUER': issuer,
            'AUDIENCE': 'authd',
            'USER_ID_CLAIM': 'sub',
            'AUTH_TOKEN_CLASSES': ('__main__.AuthdAccessToken',),
        },
        REST_FRAMEWORK={'DEFAULT_AUTHENTICATION_CLASSES': ['rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication']},
    )
    django.setup()
    # The docs' myproject/auth.py: authd's tokens carry no token_type claim (their header says at+jwt).
    from rest_framework_simplejwt.tokens import AccessToken

    class AuthdAccessToken(AccessToken):
        def verify_token_type(self):
            pass
    sys.modules['__main__'].AuthdAccessToken = AuthdAccessToken
    from rest_framework.test import APIRequestFactory
    from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
    from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
    token = sys.stdin.read().strip()
    request = APIRequestFactory().get('/', HTTP_AUTHORIZATION='Bearer ' + token)
    try:
        user, validated = JWTStatelessUserAuthentication().authenticate(request)
    except (InvalidToken, AuthenticationFailed) as error:
        json.dump({'error': type(error).__name__}, sys.stdout)
        return
    json.dump({'id': str(user.id), 'roles': validated['roles']}, sys.stdout)


def main():
    command, target = sys.argv[1], sys.argv[2]
    if command == 'verify':
        verify(target, sys.argv[3], sys.argv[4])
        return
    hashers = available_hashers()
    settings.configure(
        INSTALLED_APPS=['django.contrib.auth', 'django.contrib.contenttypes'],
        DATABASES={'default': database(target)},
        PASSWORD_HASHERS=[HASHERS[h] for h in hashers],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD='django.db.models.AutoField',
    )
    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.test import override_settings

    call_command('migrate', verbosity=0)

    if command == 'bulk':
        count = int(sys.argv[3])
        # A handful of real Django hashes reused (computing thousands of PBKDF2 hashes is not what is measured).
        hashes = [make_password('bulk password %d' % i, hasher=h) for i, h in enumerate(['pbkdf2_sha256', 'pbkdf2_sha256', 'pbkdf2_sha256', 'bcrypt_sha256'])]
        staff = Group.objects.create(name='Staff members')
        users = [User(username='bulk%05d' % i, email='Bulk%05d@Example.com' % i, first_name='Bulk', last_name=str(i),
                      password=hashes[i % len(hashes)], is_staff=(i % 50 == 0)) for i in range(count)]
        User.objects.bulk_create(users, batch_size=1000)
        through = User.groups.through
        through.objects.bulk_create([through(user_id=u.id, group_id=staff.id) for u in User.objects.filter(is_staff=True)])
        json.dump({'django': django.get_version(), 'users': count}, sys.stdout)
        return

    password = 'correct horse battery staple'
    made = []
    # The superuser the way an operator makes one: createsuperuser, password from the environment.
    os.environ['DJANGO_SUPERUSER_PASSWORD'] = 'root password 1815'
    call_command('createsuperuser', interactive=False, username='root', email='Root@Example.com', verbosity=0)
    made.append({'login': 'root@example.com', 'password': 'root password 1815', 'hasher': 'pbkdf2_sha256', 'roles': ['admin']})
    editors = Group.objects.create(name='Editors')
    for name in hashers:
        # create_user hashes with the first of PASSWORD_HASHERS: each user gets one hasher.
        with override_settings(PASSWORD_HASHERS=[HASHERS[name]]):
            user = User.objects.create_user(username='user_' + name, email='User.%s@Example.com' % name, password=password + ' ' + name)
        assert user.password.startswith(name + '$'), user.password
        user.groups.add(editors)
        made.append({'login': 'user.%s@example.com' % name, 'password': password + ' ' + name, 'hasher': name, 'roles': ['editors']})
    User.objects.create_user(username='inactive', email='inactive@example.com', password=password, is_active=False)
    User.objects.create_user(username='noemail', email='', password=password)
    User.objects.create_user(username='dup_a', email='Dup@Example.com', password=password)
    User.objects.create_user(username='dup_b', email='dup@example.com', password=password)
    unusable = User.objects.create_user(username='unusable', email='unusable@example.com')  # no password: set_unusable_password()
    assert unusable.password.startswith('!')
    json.dump({'django': django.get_version(), 'hashers': hashers, 'users': made}, sys.stdout)


if __name__ == '__main__':
    main()
