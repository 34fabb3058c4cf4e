#!/usr/bin/python3
"""Verify go_hashes.json (hashes written by guard's PasswordHasher) with
passlib, argon2-cffi and pyca/bcrypt. Regenerate the file first with

    go test -run TestWriteGoHashes -update-passlib .

then, from this directory: /usr/bin/python3 check_go.py
Exits non-zero if any hash does not verify, or verifies a wrong password.
"""
import json
import sys

import argon2
import bcrypt as pybcrypt
import passlib
from passlib.context import CryptContext
from passlib.hash import argon2 as p_argon2
from passlib.hash import bcrypt as p_bcrypt

ctx = CryptContext(schemes=["argon2", "bcrypt"])
ph = argon2.PasswordHasher()

with open("go_hashes.json", encoding="utf-8") as f:
    hashes = json.load(f)["hashes"]

failed = 0
for h in hashes:
    pw, enc, scheme = h["password"], h["hash"], h["scheme"]
    checks = {"CryptContext": lambda p: ctx.verify(p, enc)}
    if scheme == "argon2id":
        checks["passlib.hash.argon2"] = lambda p: p_argon2.verify(p, enc)

        def cffi(p):
            try:
                return ph.verify(enc, p.encode("utf-8"))
            except argon2.exceptions.VerifyMismatchError:
                return False

        checks["argon2-cffi"] = cffi
    else:
        checks["passlib.hash.bcrypt"] = lambda p: p_bcrypt.verify(p, enc)
        checks["bcrypt.checkpw"] = lambda p: pybcrypt.checkpw(p.encode("utf-8"), enc.encode("ascii"))
    for name, check in checks.items():
        # Change the first character: bcrypt libraries ignore bytes past 72.
        wrong = ("y" if pw[:1] != "y" else "z") + pw[1:]
        good, bad = check(pw), check(wrong)
        if not good or bad:
            failed += 1
            print("FAIL %s %s %r %s: right=%s wrong=%s" % (scheme, name, pw, enc, good, bad))

print("python %s, passlib %s, bcrypt %s, argon2-cffi %s" % (
    sys.version.split()[0], passlib.__version__, pybcrypt.__version__, argon2.__version__))
total = sum(2 if h["scheme"] == "bcrypt" else 3 for h in hashes)
print("%d passed, %d failed" % (total - failed, failed))
sys.exit(1 if failed else 0)
