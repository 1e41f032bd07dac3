#!/usr/bin/env python3
"""Flashback access hook for an S3-compatible server that reads access keys from a directory
(such as `flashback-s3dev`, crates/s3dev): one bucket and one key per agreement.

Configure the provider's node with it, for example:

    [access.hooks]
    s3 = "python3 /etc/flashback/s3-keydir.py --keys /srv/s3/keys --data /srv/s3/data --endpoint http://s3.example.net:9000"

The node runs the hook with one JSON object on stdin (see docs/USER_GUIDE.md, "Access for
consumers"):

- "action": "provision": creates the agreement's bucket (named after its "namespace", so a
  renewal keeps the consumer's data), writes `<keys>/<ACCESS_KEY>.json` (mode 0600) with a
  fresh secret, and answers the credentials as JSON on stdout;
- "action": "revoke" (at the agreement's end, or when a party terminates it): deletes the key
  file, so the server refuses the key at once. The bucket and its data are kept: what happens
  to a consumer's data after its agreement is the provider's policy.

Only the standard library is used. Nothing secret is written to stderr or to --log.
"""

import argparse
import json
import os
import secrets
import sys
import tempfile


def fail(message):
    print(f"s3-keydir: {message}", file=sys.stderr)
    sys.exit(1)


def hex_id(request, field):
    value = request.get(field)
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        fail(f"the request's {field!r} is not a 64-character hex id")
    return value


def access_key_for(agreement):
    # Derived from the agreement, so that "revoke" finds the key without a database. An
    # access key is not secret; the secret is.
    return "FB" + agreement[:30].upper()


def write_private(path, data):
    """Writes `data` to `path`, owner-only from the first byte, replacing it atomically."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", required=True, help="the server's key directory")
    parser.add_argument("--data", required=True, help="the server's data directory (one directory per bucket)")
    parser.add_argument("--endpoint", required=True, help="the S3 endpoint consumers use")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--log", help="append one line per call (action, agreement; never a secret)")
    args = parser.parse_args()

    try:
        request = json.load(sys.stdin)
    except ValueError as e:
        fail(f"stdin is not JSON: {e}")
    action = request.get("action")
    agreement = hex_id(request, "agreement")
    key_path = os.path.join(args.keys, access_key_for(agreement) + ".json")

    if action == "provision":
        namespace = hex_id(request, "namespace")
        bucket = "fb-" + namespace[:32]
        os.makedirs(args.keys, exist_ok=True)
        os.makedirs(os.path.join(args.data, bucket), exist_ok=True)
        secret = secrets.token_urlsafe(30)
        write_private(key_path, json.dumps({"secret": secret, "bucket": bucket}))
        answer = {
            "endpoint": args.endpoint,
            "bucket": bucket,
            "region": args.region,
            "access_key": access_key_for(agreement),
            "secret": secret,
        }
    elif action == "revoke":
        try:
            os.unlink(key_path)
        except FileNotFoundError:
            pass
        answer = {}
    else:
        fail(f"unknown action {action!r}")

    if args.log:
        with open(args.log, "a") as log:
            log.write(f"{action} {agreement} {request.get('reason') or ''}".rstrip() + "\n")
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
