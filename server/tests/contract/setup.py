"""Prepares a hookline server for the contract test: waits until it answers, then creates the
resources the generated requests need (an app with a webhook, and an app that may be deleted), and
prints them as shell assignments for scripts/test-contract.sh."""

import json
import sys
import time
import urllib.error
import urllib.request

base, admin = sys.argv[1], sys.argv[2]


def call(method, path, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


for _ in range(100):
    try:
        urllib.request.urlopen(base + "/healthz", timeout=2).read()
        break
    except (urllib.error.URLError, ConnectionError):
        time.sleep(0.1)
else:
    sys.exit("the server did not answer /healthz within 10 s")

app = call("POST", "/v1/apps", admin, {"name": "contract"})
doomed = call("POST", "/v1/apps", admin, {"name": "contract, deleted by the test"})
webhook = call(
    "POST",
    f"/v1/apps/{app['id']}/webhooks",
    app["api_key"],
    {
        "name": "contract",
        "events": ["message.push.sent"],
        "url": "https://receiver.example/hook/{{ event.id }}",
        "body": {"custom": '{"id": "{{ event.id }}"}'},
    },
)
call("POST", f"/v1/apps/{app['id']}/events", app["api_key"],
     {"events": [{"id": "e1", "kind": "message.push.sent"}]})
print(f"HL_APP_ID={app['id']}")
print(f"HL_APP_KEY={app['api_key']}")
print(f"HL_DOOMED_APP_ID={doomed['id']}")
print(f"HL_WEBHOOK_ID={webhook['id']}")
