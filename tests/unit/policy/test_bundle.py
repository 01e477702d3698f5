from __future__ import annotations

from pathlib import Path

import pytest

from warden.policy import Bundle, BundleError, default_schema, load_bundle


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_load_reads_policies_recursively_sorted_with_default_schema(tmp_path: Path) -> None:
    write(tmp_path, {"b.cedar": "B", "a/z.cedar": "Z", "notes.txt": "x"})
    bundle = load_bundle(tmp_path)
    assert list(bundle.policies) == ["a/z.cedar", "b.cedar"]
    assert bundle.schema == default_schema()
    assert "action invoke" in bundle.schema
    assert bundle.entities == ()
    assert bundle.source == str(tmp_path)


def test_load_reads_schema_and_entities(tmp_path: Path) -> None:
    entities = '[{"uid": {"type": "Team", "id": "t"}, "attrs": {}, "parents": []}]'
    write(
        tmp_path, {"p.cedar": "P", "schema.cedarschema": "entity Team;", "entities.json": entities}
    )
    bundle = load_bundle(tmp_path)
    assert bundle.schema == "entity Team;"
    assert bundle.entities == ({"uid": {"type": "Team", "id": "t"}, "attrs": {}, "parents": []},)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")


def test_folder_without_policies(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"has no `\*\.cedar` files"):
        load_bundle(write(tmp_path, {"schema.cedarschema": ""}))


def test_entities_json_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, {"p.cedar": "P", "entities.json": '[\n  {"uid": 1,}\n]'})
    with pytest.raises(BundleError, match=r"^entities\.json:2:13: not valid JSON"):
        load_bundle(tmp_path)


def test_entities_json_must_be_a_list(tmp_path: Path) -> None:
    write(tmp_path, {"p.cedar": "P", "entities.json": "{}"})
    with pytest.raises(BundleError, match="list"):
        load_bundle(tmp_path)


def test_digest_covers_content_not_source_or_order() -> None:
    one = Bundle({"a": "1", "b": "2"}, "s", [{"x": 1}], source="here")
    two = Bundle({"b": "2", "a": "1"}, "s", ({"x": 1},), source="there")
    assert one.digest == two.digest
    assert len(one.digest) == 64
    assert Bundle({"a": "1", "b": "3"}, "s").digest != one.digest
    assert Bundle({"a": "1", "b": "2"}, "t", [{"x": 1}]).digest != one.digest


def test_json_round_trip() -> None:
    bundle = Bundle({"a.cedar": "permit(principal, action, resource);"}, "s", [{"x": 1}], "src")
    again = Bundle.from_json(bundle.to_json())
    assert again == bundle
    assert again.digest == bundle.digest


def test_from_json_rejects_garbage() -> None:
    with pytest.raises(BundleError):
        Bundle.from_json('{"schema": "s"}')
