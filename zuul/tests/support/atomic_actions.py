#!/usr/bin/env python3
"""Which top-level atomic actions does a Rally scenario record?

perfkit's task files put per-atomic-action SLAs (max_avg_duration_per_atomic)
on workloads. Rally silently ignores a name the scenario never records (its
average stays 0), so a typo would be an SLA that can never fail. This script
runs each scenario's real run() code from rally-openstack with every
OpenStack client replaced by a mock (no cloud, no waiting) and prints the
names of the top-level atomic actions it recorded.

Input (stdin): JSON list of {"id": str, "scenario": str, "args": {...},
"extra_dir": optional path that stands for ~/.rally/extra/ in args}.
Output (stdout): JSON {id: {"atomics": [names], "error": str|null}}; an
error after the interesting actions were recorded is harmless (mocks are
not a cloud), the caller decides.

Run with the interpreter of a venv holding rally==5.1.1 and
rally-openstack==4.1.0 (PERFKIT_RALLY_PYTHON in perfkit's tests).
"""

import contextlib
import io
import json
import logging
import signal
import sys
import typing
from unittest import mock

logging.disable(logging.WARNING)

import rally.plugins  # noqa: E402
from rally.common import cfg  # noqa: E402
from rally.task import scenario  # noqa: E402
import yaml  # noqa: E402

# oslo.config must be "called" once, after rally registered its options.
with contextlib.suppress(Exception):
    cfg.CONF([], project="rally", default_config_files=[])
rally.plugins.load()

# API version each mocked client reports, so rally-openstack's service
# layer picks the implementation a current devstack has (cinder v3, ...).
CLIENT_VERSIONS = {
    "cinder": "3", "glance": "2", "keystone": "3", "nova": "2",
    "neutron": "2.0", "heat": "1", "octavia": "2", "barbican": "1",
    "gnocchi": "1", "manila": "2", "magnum": "1", "designate": "2",
    "mistral": "2", "zaqar": "1.1", "watcher": "1", "ironic": "1",
    "swift": "1",
}


class _AnyName:
    """Equal to every service name: all services count as enabled."""

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


def _one_item_mock(name):
    """A mock that also behaves as a one-element sequence (a context's list
    of volumes, zones, shares... that a scenario picks from)."""
    value = mock.MagicMock(name=name)
    item = mock.MagicMock(name=name + "[0]")
    value.__len__.return_value = 1
    value.__iter__.side_effect = lambda: iter([item])
    value.__getitem__.return_value = item
    return value


class _Ctx(dict):
    """A context dict: keys a context plugin would have filled are mocks."""

    def __missing__(self, key):
        value = _one_item_mock("context[%r]" % key)
        self[key] = value
        return value

    def get(self, key, default=None):
        # `ctx.get("shares", [])`: a context would have filled the list
        if key not in self and isinstance(default, list):
            return self[key]
        return super().get(key, default)


def _context():
    cred = mock.MagicMock(name="credential")
    user = _Ctx(credential=cred, id="u1", tenant_id="t1", secgroup=None)
    tenant = _Ctx(id="t1", name="t1", users=[user],
                  networks=[_Ctx(id="n1", subnets=["s1"], router_id="r1")])
    return _Ctx(admin=_Ctx(credential=cred), users=[user], user=user,
                tenant=tenant, tenants={"t1": tenant},
                user_choice_method="random", iteration=1, owner_id="o1",
                task=_Ctx(uuid="t"), config=_Ctx())


_REAL_SAFE_LOAD = yaml.safe_load


def _yaml_or_mock(stream, *args, **kwargs):
    """A mocked API returns mocks, not YAML text (mistral definitions)."""
    if isinstance(stream, (str, bytes, io.IOBase)):
        return _REAL_SAFE_LOAD(stream, *args, **kwargs)
    return _Ctx()


def _load_files(name, context, args, extra_dir):
    """Rally turns `file` args into the file's text (and checks
    `path_or_url` ones) before run(); do the same, with ~/.rally/extra/
    pointing at the rendered rally-jobs/extra/ directory."""
    from rally.task import types

    if extra_dir:
        args = json.loads(json.dumps(args).replace(
            '"~/.rally/extra/', json.dumps(extra_dir.rstrip("/") + "/")[:-1]))
    cls = scenario.Scenario.get(name)
    try:
        hints = typing.get_type_hints(cls.run, include_extras=True)
    except Exception:
        hints = {}
    pre = types.collect_scenario_args_preprocessors(cls, hints=hints)
    files = {k: v for k, v in args.items()
             if k in pre and pre[k].get("type") in ("file", "path_or_url")}
    if files:
        args = dict(args, **types.preprocess(name, context, files))
    return args


def _record(name, args, extra_dir=None):
    cls = scenario.Scenario.get(name)
    passthrough = (lambda resource, *a, **kw: resource)
    with mock.patch("rally_openstack.common.osclients.Clients") as clients, \
            mock.patch("rally.task.utils.wait_for_status",
                       side_effect=passthrough), \
            mock.patch("rally.task.utils.wait_for", side_effect=passthrough), \
            mock.patch("rally.task.utils.wait_for_delete",
                       side_effect=passthrough), \
            mock.patch("time.sleep"), \
            mock.patch("yaml.safe_load", side_effect=_yaml_or_mock), \
            contextlib.redirect_stdout(io.StringIO()):
        fake = clients.return_value
        for client, version in CLIENT_VERSIONS.items():
            getattr(fake, client).choose_version.return_value = version
        fake.keystone.return_value.version = "v3"
        fake.glance.return_value.version = "2"
        fake.services.return_value = {"any": _AnyName()}
        context = _context()
        args = _load_files(name, context, args, extra_dir)
        inst = cls(context=context)
        error = None
        try:
            inst.run(**args)
        except Exception as e:  # mocks are not a cloud
            error = "%s: %s" % (type(e).__name__, e)
        return [a["name"] for a in inst.atomic_actions()], error


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout("no result within %d s (a loop that mocks never end)"
                   % TIMEOUT_S)


TIMEOUT_S = 5


def main():
    signal.signal(signal.SIGALRM, _alarm)
    out = {}
    for item in json.load(sys.stdin):
        signal.alarm(TIMEOUT_S)
        try:
            atomics, error = _record(item["scenario"], item.get("args") or {},
                                     item.get("extra_dir"))
        except Exception as e:
            atomics, error = [], "setup: %s: %s" % (type(e).__name__, e)
        finally:
            signal.alarm(0)
        out[item["id"]] = {"atomics": atomics, "error": error}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
