"""Writes test/fixtures/django-hashes.json: passwords hashed by Django's own hashers.

Run with Debian's Django (python3-django, python3-argon2, python3-bcrypt), not a virtualenv's:
    /usr/bin/python3 scripts/django/hash-vectors.py > test/fixtures/django-hashes.json
Django 3.2 (Debian bookworm) has no ScryptPasswordHasher (added in Django 4.0); its scrypt
vectors are made the way Django 4's hasher makes them: hashlib.scrypt, n=2**14, r=8, p=1,
dklen=64, written as scrypt$n$salt$r$p$base64.
"""
import base64
import hashlib
import json
import secrets
import sys

import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=[
    'django.contrib.auth.hashers.PBKDF2PasswordHasher',
    'django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher',
    'django.contrib.auth.hashers.Argon2PasswordHasher',
    'django.contrib.auth.hashers.BCryptSHA256PasswordHasher',
    'django.contrib.auth.hashers.BCryptPasswordHasher',
])
django.setup()
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402


def scrypt(password, n=2 ** 14, r=8, p=1):
    salt = secrets.token_urlsafe(16)[:22]
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
    return 'scrypt$%d$%s$%d$%d$%s' % (n, salt, r, p, base64.b64encode(digest).decode('ascii'))


def argon2i(password):
    # What Django before 3.2 wrote (argon2-cffi's argon2i), still verified by Django today.
    import argon2
    hasher = argon2.PasswordHasher(time_cost=2, memory_cost=512, parallelism=2, type=argon2.low_level.Type.I)
    return 'argon2' + hasher.hash(password)


PASSWORDS = ['correct horse battery staple', 'pässwörd ünïcödé ✓ 密码', 'x' * 100]
vectors = []
for password in PASSWORDS:
    for algorithm in ['pbkdf2_sha256', 'pbkdf2_sha1', 'argon2', 'bcrypt_sha256', 'bcrypt']:
        vectors.append({'hasher': algorithm, 'password': password, 'encoded': make_password(password, hasher=algorithm)})
    vectors.append({'hasher': 'argon2i', 'password': password, 'encoded': argon2i(password)})
    vectors.append({'hasher': 'scrypt', 'password': password, 'encoded': scrypt(password)})
# Django checks every vector itself before it is written (scrypt: the Django 4 recipe above).
for v in vectors:
    if v['hasher'] != 'scrypt':
        assert check_password(v['password'], v['encoded']), v
        # Plain bcrypt reads only the first 72 bytes (Django's BCryptPasswordHasher truncates).
        truncated = v['hasher'] == 'bcrypt' and len(v['password'].encode()) > 72
        assert check_password(v['password'] + ' ', v['encoded']) == truncated, v
unusable = make_password(None)
json.dump({'django': django.get_version(), 'vectors': vectors, 'unusable': unusable}, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write('\n')
