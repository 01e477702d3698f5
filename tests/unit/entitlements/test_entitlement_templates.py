"""Provisioning templates: the packaged ones are valid and least-privilege; a custom file's
problems are all reported, each with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.entitlements.errors import TemplateInvalid, TemplateNotFound
from warden.entitlements.templates import load_file, packaged, packaged_template, parse

PURPOSES = {
    "ap-reconciliation",
    "hr-onboarding",
    "sales-crm-updates",
    "it-access-requests",
    "incident-triage",
}


def _problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(TemplateInvalid) as caught:
        parse(text, "custom.yaml")
    return [(p.line, p.message) for p in caught.value.problems]


def test_every_packaged_template_is_valid_justified_and_narrow() -> None:
    templates = {t.name: t for t in packaged()}
    assert set(templates) >= PURPOSES
    for template in templates.values():
        assert template.purpose and template.grants
        for grant in template.grants:
            assert grant.resource_id != "*", f"{template.name} grants every {grant.resource_type}"
            assert len(grant.justification) > 20, (template.name, grant.resource_id)


def test_the_ap_template_reads_and_flags_but_cannot_pay() -> None:
    tools = {g.resource_id for g in packaged_template("ap-reconciliation").grants}
    assert tools == {"erp.invoice.read", "erp.payment.read", "ledger.read", "erp.invoice.flag"}


def test_an_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(TemplateNotFound, match="hr-onboarding"):
        packaged_template("payroll")


def test_a_custom_file_with_defaults_and_a_generic_resource(tmp_path: Path) -> None:
    path = tmp_path / "docs-bot.yaml"
    path.write_text(
        "name: docs-bot\n"
        "purpose: answers questions from the handbook\n"
        "grants:\n"
        "  - tool: search.handbook\n"
        "    justification: finds the handbook page a question is about\n"
        "  - action: read\n"
        "    resource_type: document\n"
        '    resource: "*"\n'
        "    justification: reads any handbook document it found\n"
    )
    template = load_file(path)
    assert template.source == str(path)
    first, second = template.grants
    assert (first.action, first.resource_type, first.resource_id) == (
        "invoke",
        "Tool",
        "search.handbook",
    )
    assert (second.action, second.resource_type, second.resource_id) == ("read", "Document", "*")


def test_every_problem_is_reported_with_its_line() -> None:
    text = (
        "name: My Bot\n"  # 1: not a valid name
        "purpose: testing\n"
        "owner: me\n"  # 3: unknown key
        "grants:\n"
        "  - tool: erp.read\n"  # 5: no justification
        "  - tool: erp.write\n"
        "    justification: writes\n"
        "    resource: x\n"  # 6: tool and resource
        "  - tool: erp.read\n"
        "    justification: again\n"
        "  - tool: erp.delete\n"
        "    justification: ''\n"  # 12: empty justification
        "  - action: run now\n"  # 13: bad action
        "    tool: erp.x\n"
        "    justification: runs\n"
    )
    assert _problems(text) == [
        (1, "`name` `My Bot` must be lowercase letters, digits, `-`"),
        (3, "a template: unknown key `owner` (expected `name`, `purpose`, `grants`)"),
        (5, "grant 1: `justification` is required: say why the agent needs it"),
        (6, "grant 2: give `tool` or `resource`, not both"),
        (12, "grant 4: `justification` must be a non-empty text"),
        (13, "grant 5: action `run now` is not a valid action name (letters, digits, `_.:/-`)"),
    ]


def test_a_repeated_grant_and_an_empty_list_are_refused() -> None:
    repeated = (
        "name: x\npurpose: y\ngrants:\n"
        "  - tool: a\n    justification: one\n"
        "  - tool: a\n    justification: two\n"
    )
    assert _problems(repeated) == [(6, "grant 2 repeats an earlier grant")]
    assert _problems("name: x\npurpose: y\ngrants: []\n") == [
        (3, "`grants` must be a non-empty list")
    ]


def test_yaml_syntax_errors_and_non_mappings_have_lines() -> None:
    [(line, message)] = _problems("name: x\npurpose: y\ngrants:\n  - tool: [a\n")
    assert line == 5 and message.startswith("not valid YAML")
    assert _problems("- just\n- a list\n") == [(1, "a template must be a mapping")]
    assert _problems("") == [(1, "a template must be a mapping")]


def test_a_problem_prints_as_file_line_message() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        parse("name: x\npurpose: y\n", "custom.yaml")
    assert str(caught.value) == "custom.yaml:1: `grants` is required: a list of grants"
