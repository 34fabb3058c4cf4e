#!/usr/bin/python3
"""Write vectors.json: hashes made by passlib / argon2-cffi / bcrypt for the Go
tests (TestPasslibVectors). Run from this directory with Debian's packages:

    apt-get install -y python3-passlib python3-bcrypt python3-argon2
    /usr/bin/python3 gen.py > vectors.json

Costs are kept low so that the Go test stays fast, except for one hash per
scheme at the library's default cost.
"""
import json
import sys

import argon2
import bcrypt as pybcrypt
import passlib
from passlib.hash import argon2 as p_argon2
from passlib.hash import bcrypt as p_bcrypt
from passlib.hash import bcrypt_sha256 as p_bcrypt_sha256
from passlib.hash import pbkdf2_sha256 as p_pbkdf2

PASSWORDS = [
    "password",
    "",
    "correct horse battery staple",
    "p\u00e4ssw\u00f6rd \u2603 \u5bc6\u7801 \U0001f511",
    "a" * 72,  # bcrypt's limit exactly
    "\u00e9" * 36,  # 72 bytes of two-byte UTF-8
    " leading and trailing spaces ",
]
LONG = "long-" + "x" * 95  # 100 bytes: over bcrypt's limit

out = []


def add(scheme, password, hash, source, go_expect="match", verify_as=None):
    rec = {"scheme": scheme, "password": password, "hash": hash, "source": source, "go_expect": go_expect}
    if verify_as is not None:
        rec["verify_as"] = verify_as
    out.append(rec)


# bcrypt (passlib, bcrypt backend), cost 4 and one at the default cost 12.
for pw in PASSWORDS:
    add("bcrypt", pw, p_bcrypt.using(rounds=4).hash(pw), "passlib.hash.bcrypt rounds=4")
add("bcrypt", "password", p_bcrypt.hash("password"), "passlib.hash.bcrypt default (rounds=12)")
for ident in ("2a", "2y"):
    add("bcrypt", "password", p_bcrypt.using(rounds=4, ident=ident).hash("password"), "passlib.hash.bcrypt ident=" + ident)
# pyca/bcrypt directly, as FastAPI-style code calls it.
add("bcrypt", "password", pybcrypt.hashpw(b"password", pybcrypt.gensalt(4)).decode(), "bcrypt.hashpw gensalt(4)")
# passlib truncates silently at 72 bytes; guard refuses to: a 100-byte password
# is a mismatch against this hash, and its first 72 bytes match.
trunc = p_bcrypt.using(rounds=4).hash(LONG)
add("bcrypt", LONG, trunc, "passlib.hash.bcrypt rounds=4, password over 72 bytes (truncated by passlib)", go_expect="mismatch")
add("bcrypt", LONG[:72], trunc, "same hash, first 72 bytes of the password")

# bcrypt_sha256 v2 (passlib >= 1.7.3 default) and v1 (older passlib).
for pw in PASSWORDS + [LONG]:
    add("bcrypt_sha256", pw, p_bcrypt_sha256.using(rounds=4).hash(pw), "passlib.hash.bcrypt_sha256 rounds=4 (v=2)")
add("bcrypt_sha256", "password", p_bcrypt_sha256.hash("password"), "passlib.hash.bcrypt_sha256 default (v=2, rounds=12)")
for pw in ("password", LONG):
    add("bcrypt_sha256", pw, p_bcrypt_sha256.using(rounds=4, version=1).hash(pw), "passlib.hash.bcrypt_sha256 rounds=4 version=1")

# argon2id: passlib (argon2-cffi backend) and argon2-cffi's PasswordHasher
# (what pwdlib uses), with its defaults m=65536,t=3,p=4 once.
small = p_argon2.using(type="ID", memory_cost=256, time_cost=2, parallelism=2)
for pw in PASSWORDS + [LONG, "nul\x00byte"]:
    add("argon2id", pw, small.hash(pw), "passlib.hash.argon2 type=ID m=256 t=2 p=2")
add("argon2id", "password", p_argon2.using(type="ID").hash("password"), "passlib.hash.argon2 type=ID, passlib defaults")
add("argon2id", "password", argon2.PasswordHasher().hash("password"), "argon2.PasswordHasher() defaults")
add("argon2id", "password", argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, hash_len=16, salt_len=8).hash("password"),
    "argon2.PasswordHasher m=64 t=1 p=1 hash_len=16 salt_len=8")
add("argon2id", "password", argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16).hash("password"),
    "argon2.PasswordHasher OWASP m=19456 t=2 p=1 (guard's default policy)")

# pbkdf2_sha256 (passlib), low rounds and passlib's default 29000.
for pw in PASSWORDS + [LONG, "nul\x00byte"]:
    add("pbkdf2_sha256", pw, p_pbkdf2.using(rounds=1000).hash(pw), "passlib.hash.pbkdf2_sha256 rounds=1000")
add("pbkdf2_sha256", "password", p_pbkdf2.hash("password"), "passlib.hash.pbkdf2_sha256 default (rounds=29000)")

versions = {
    "python": sys.version.split()[0],
    "passlib": passlib.__version__,
    "bcrypt": pybcrypt.__version__,
    "argon2-cffi": argon2.__version__,
}
json.dump({"generated_by": "gen.py", "versions": versions, "vectors": out}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
