#!/usr/bin/env python3
"""Creates a blob container on an Azurite emulator (standard library only).

Usage: azurite_container.py ENDPOINT CONTAINER
  ENDPOINT  e.g. http://127.0.0.1:10000 (the account is Azurite's well-known
            devstoreaccount1, addressed path-style as the emulator expects)

object_store cannot create containers, so the tests make theirs here: one
`Create Container` request signed with Shared Key, as documented in
https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
(the emulator's account key is public and fixed). Exit 0 when created.
"""

import base64
import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from email.utils import formatdate

ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
API_VERSION = "2021-08-06"


def create_container(endpoint, container):
    date = formatdate(usegmt=True)
    # VERB, then 11 standard headers (all empty: no body), then the
    # canonicalized x-ms- headers and resource.
    string_to_sign = "\n".join(
        ["PUT"] + [""] * 11
        + ["x-ms-date:" + date, "x-ms-version:" + API_VERSION,
           "/%s/%s/%s\nrestype:container" % (ACCOUNT, ACCOUNT, container)])
    key = base64.b64decode(ACCOUNT_KEY)
    signature = base64.b64encode(hmac.new(key, string_to_sign.encode(), hashlib.sha256).digest()).decode()
    request = urllib.request.Request(
        "%s/%s/%s?restype=container" % (endpoint.rstrip("/"), ACCOUNT, container),
        method="PUT",
        headers={
            "x-ms-date": date,
            "x-ms-version": API_VERSION,
            "Authorization": "SharedKey %s:%s" % (ACCOUNT, signature),
            "Content-Length": "0",
        },
    )
    # No proxy: the emulator is on this machine, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        status, body = create_container(*argv)
    except urllib.error.URLError as error:
        print("creating container %s: %s" % (argv[1], error.reason), file=sys.stderr)
        return 1
    if status != 201:
        print("creating container %s: HTTP %d\n%s" % (argv[1], status, body), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
