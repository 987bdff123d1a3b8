"""Kubernetes resources checked before they are written: the Prometheus Operator's CRD schemas
(bundled in ``schemas/``, see its README for their source), plus the object-metadata rules the API
server applies to every resource.

The CRDs' OpenAPI schemas are checked with ``jsonschema`` as the API server checks them with
strict field validation (``kubectl apply --validate=strict``): a field the schema does not name is
an error, not silently pruned, and list types hold (a ``set`` has unique items, a ``map`` unique
keys, such as the rule groups' names). Two checks differ from the published schema:
sub-routes of an ``AlertmanagerConfig`` (``x-kubernetes-preserve-unknown-fields`` in the CRD, checked
by the operator when it reconciles) are checked against the route schema here, and the one CEL rule
(``x-kubernetes-validations``, on SNS configs this project never writes) is not evaluated.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import RulesError

__all__ = ["SCHEMA_DIR", "CRD_SCHEMAS", "MAX_OBJECT_BYTES", "DNS_LABEL", "DNS_SUBDOMAIN",
           "CONFIGMAP_KEY", "schema_errors", "validate"]

SCHEMA_DIR = Path(__file__).with_name("schemas")
# (apiVersion, kind) -> the bundled openAPIV3Schema of that CRD version
CRD_SCHEMAS: dict[tuple[str, str], str] = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor-v1.json",
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): "alertmanagerconfig-v1alpha1.json",
}
# Core resources checked by their metadata and data only (no CRD schema).
_CORE = {("v1", "ConfigMap")}
# etcd refuses larger requests (1.5 MiB by default); stay well under it.
MAX_OBJECT_BYTES = 1024 * 1024

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
CONFIGMAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")


_LEADING_FLAG = re.compile(r"^\^\(\?i\)")


def python_pattern(pattern: str) -> str:
    """A Go (RE2) pattern in Python's syntax: Go lets ``(?i)`` stand anywhere and apply to the
    rest of its group; Python wants it first, or scoped as ``(?i:...)``."""
    pattern = _LEADING_FLAG.sub("(?i)^", pattern)
    while (start := pattern.find("(?i)", 1)) > 0:
        depth, end = 0, start + 4
        while end < len(pattern):
            char = pattern[end]
            if char == "\\":
                end += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            end += 1
        pattern = f"{pattern[:start]}(?i:{pattern[start + 4:end]}){pattern[end:]}"
    return pattern


_SUBSCHEMAS = ("items", "additionalProperties", "anyOf", "allOf", "oneOf", "not")


def _strict(schema: Any) -> Any:
    """``schema`` as the API server applies it: unknown fields refused wherever the CRD lists an
    object's fields, list types enforced (``set``: unique items; ``map``: unique keys, see
    :func:`_unique_keys`), and Go's patterns in Python's syntax (:func:`python_pattern`)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {
        key: ({name: _strict(sub) for name, sub in value.items()} if key == "properties"
              else _strict(value) if key in _SUBSCHEMAS else value)
        for key, value in schema.items()}
    if isinstance(pattern := out.get("pattern"), str):
        out["pattern"] = python_pattern(pattern)
    if "properties" in out and "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    return out


def _unique_keys(validator: Any, keys: list[str], instance: Any, schema: Any) -> Iterator[Any]:
    """``x-kubernetes-list-map-keys``: no two items of the list share their keys' values."""
    from jsonschema import ValidationError

    if schema.get("x-kubernetes-list-type") != "map" or not validator.is_type(instance, "array"):
        return
    seen = set()
    for item in instance:
        if isinstance(item, Mapping):
            key = tuple(json.dumps(item.get(k), sort_keys=True) for k in keys)
            if key in seen:
                yield ValidationError(f"two items have the same {', '.join(keys)}: "
                                      f"{', '.join(key)} (the list is a map keyed by it)")
            seen.add(key)


@functools.cache
def _draft() -> Any:
    from jsonschema import Draft4Validator, validators  # OpenAPI v3.0: draft-4 JSON Schema

    return validators.extend(Draft4Validator, {"x-kubernetes-list-map-keys": _unique_keys})


@functools.cache
def _validator(filename: str) -> Any:
    schema = _strict(json.loads((SCHEMA_DIR / filename).read_text()))
    _draft().check_schema(schema)  # checks that every pattern compiles, too
    return _draft()(schema)


@functools.cache
def _route_validator() -> Any:
    spec = _validator(CRD_SCHEMAS[("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig")]).schema
    # a sub-route has the top route's fields; its receiver may be left out (it inherits)
    return _draft()(copy.deepcopy(spec["properties"]["spec"]["properties"]["route"]))


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts) or "."


def _label_errors(where: str, labels: Any, *, values: bool) -> Iterator[str]:
    if not isinstance(labels, Mapping):
        yield f"{where}: must be a mapping of strings"
        return
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if not (_LABEL_NAME.fullmatch(name) and len(name) <= 63) or (
                prefix and not (DNS_SUBDOMAIN.fullmatch(prefix) and len(prefix) <= 253)):
            yield (f"{where}: {key!r} is not a valid key (an optional DNS prefix and '/', then at "
                   f"most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)")
        if not isinstance(value, str):
            yield f"{where}.{key}: must be a string, got {type(value).__name__}"
        elif values and value and not (_LABEL_NAME.fullmatch(value) and len(value) <= 63):
            yield (f"{where}.{key}: {value!r} is not a valid label value (at most 63 letters, "
                   f"digits, '-', '_' or '.', starting and ending alphanumeric)")


def _metadata_errors(metadata: Any) -> Iterator[str]:
    if not isinstance(metadata, Mapping):
        yield "metadata: missing"
        return
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not (isinstance(name, str) and DNS_SUBDOMAIN.fullmatch(name) and len(name) <= 253):
        yield f"metadata.name: {name!r} is not a DNS subdomain (lowercase letters, digits, '-', '.')"
    if namespace is not None and not (isinstance(namespace, str) and DNS_LABEL.fullmatch(namespace)
                                      and len(namespace) <= 63):
        yield (f"metadata.namespace: {namespace!r} is not a DNS label (at most 63 lowercase "
               f"letters, digits and '-')")
    yield from _label_errors("metadata.labels", metadata.get("labels", {}), values=True)
    yield from _label_errors("metadata.annotations", metadata.get("annotations", {}), values=False)


def _configmap_errors(resource: Mapping[str, Any]) -> Iterator[str]:
    data = resource.get("data", {})
    if not isinstance(data, Mapping):
        yield "data: must be a mapping"
        return
    for key, value in data.items():
        if not (isinstance(key, str) and CONFIGMAP_KEY.fullmatch(key) and len(key) <= 253):
            yield f"data: {key!r} is not a valid key (letters, digits, '-', '_' or '.')"
        if not isinstance(value, str):
            yield f"data.{key}: must be a string"
    extra = set(resource) - {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}
    if extra:
        yield f"unknown fields of a ConfigMap: {sorted(extra)}"


def _routes(route: Any, where: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    for i, sub in enumerate(route.get("routes") or [] if isinstance(route, Mapping) else []):
        yield [*where, "routes", i], sub
        yield from _routes(sub, [*where, "routes", i])


def schema_errors(resource: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``resource`` (empty when the API server would accept it)."""
    key = (resource.get("apiVersion"), resource.get("kind"))
    if key not in CRD_SCHEMAS and key not in _CORE:
        known = ", ".join(f"{kind} ({version})" for version, kind in (*CRD_SCHEMAS, *_CORE))
        return [f"{key[1]} ({key[0]}) has no bundled schema; known: {known}"]
    errors = list(_metadata_errors(resource.get("metadata")))
    if key in _CORE:
        errors += _configmap_errors(resource)
    else:
        validator = _validator(CRD_SCHEMAS[key])
        errors += [f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(resource)]
        if key[1] == "AlertmanagerConfig":
            route = (resource.get("spec") or {}).get("route")
            for where, sub in _routes(route, ["spec", "route"]):
                errors += [f"{_path([*where, *e.absolute_path])}: {e.message}"
                           for e in _route_validator().iter_errors(sub)]
    size = len(json.dumps(resource, separators=(",", ":")))
    if size > MAX_OBJECT_BYTES:
        errors.append(f"{size} bytes as JSON: Kubernetes stores at most about {MAX_OBJECT_BYTES}")
    return errors


def validate(resource: Mapping[str, Any]) -> None:
    """Raise :class:`RulesError` naming every problem of ``resource``; return when it is valid."""
    errors = schema_errors(resource)
    if errors:
        name = (resource.get("metadata") or {}).get("name", "?")
        raise RulesError(f"{resource.get('kind')} {name} would be refused by Kubernetes:\n  "
                         + "\n  ".join(errors))
