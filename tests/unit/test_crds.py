"""The CRDs in crds/ are exactly what the models generate, and structural as the API server demands."""

from __future__ import annotations

import pathlib
from typing import Any, Iterator

import pytest
import yaml

from taskengine.api import crdgen, kinds

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    generated = crdgen.rendered_files()

    committed = {path.name: path.read_text() for path in CRDS.glob("*.yaml")}

    assert sorted(committed) == sorted(generated)
    for name, text in generated.items():
        assert committed[name] == text, f"crds/{name} is stale: run `taskengine crds`"


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", kinds.ALL, ids=lambda kind: kind.kind)
def test_schema_is_structural(kind: kinds.Kind) -> None:
    schema = crdgen.openapi_schema(kind)

    for path, node in nodes(schema):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"
        for forbidden in ("$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "default"):
            assert forbidden not in node, f"{path} has {forbidden}"


@pytest.mark.parametrize("kind", kinds.ALL, ids=lambda kind: kind.kind)
def test_every_spec_field_is_described(kind: kinds.Kind) -> None:
    schema = crdgen.openapi_schema(kind)

    undescribed = [path for path, node in nodes(schema["properties"]["spec"], ".spec") if path != ".spec" and not node.get("description") and not path.endswith("[]") and not path.endswith("{}")]

    assert undescribed == []


def test_names_categories_and_status_subresource() -> None:
    documents = [yaml.safe_load(text) for text in crdgen.rendered_files().values()]

    short_names = {doc["spec"]["names"]["kind"]: doc["spec"]["names"]["shortNames"] for doc in documents}
    assert short_names == {
        "Task": ["tk"], "TaskGroup": ["tg"], "Schedule": ["sched"], "Calendar": ["cal"],
        "EventTrigger": ["evt"], "Webhook": ["wh"], "TaskLog": ["tl"],
    }
    for doc in documents:
        assert doc["spec"]["names"]["categories"] == ["taskengine"]
        assert doc["spec"]["scope"] == "Namespaced"
        version = doc["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert any(column["name"] == "Age" for column in version["additionalPrinterColumns"])


def test_conditions_are_a_map_keyed_by_type() -> None:
    status = crdgen.openapi_schema(kinds.TASK)["properties"]["status"]

    conditions = status["properties"]["conditions"]

    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["properties"]) >= {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
    assert "observedGeneration" in status["properties"]
