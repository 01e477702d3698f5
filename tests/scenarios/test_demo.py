"""`warden demo --json`: a scripted day of a small fleet, decided and recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

AGENT = "spiffe://acme.example/agent/"


def test_demo_shows_allow_deny_and_step_up_and_a_verified_ledger(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    warden = Path(sys.executable).parent / "warden"

    done = subprocess.run(
        [str(warden), "demo", "--json"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )

    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    decisions = {(d["agent"].removeprefix(AGENT), d["tool"]): d for d in report["decisions"]}
    outcomes = Counter(d["outcome"] for d in report["decisions"])
    assert outcomes["allow"] >= 3 and outcomes["deny"] >= 3 and outcomes["step_up"] >= 1

    def reason_codes(agent: str, tool: str) -> list[str]:
        return [r["code"] for r in decisions[agent, tool]["reasons"]]

    assert decisions["ap-reconciler", "ledger.read"]["outcome"] == "allow"
    assert decisions["ap-reconciler", "payments.transfer"]["outcome"] == "step_up"
    assert decisions["treasury-payouts", "payments.transfer"]["outcome"] == "allow"
    assert decisions["hr-onboarding", "ledger.read"]["outcome"] == "deny"
    assert decisions["shadow-scraper", "hr.records.read"]["outcome"] == "deny"
    assert "agent.unknown" in reason_codes("shadow-scraper", "hr.records.read")
    assert decisions["expense-legacy", "ledger.read"]["outcome"] == "deny"
    assert "agent.suspended" in reason_codes("expense-legacy", "ledger.read")
    assert report["ledger"]["ok"] is True
    assert report["ledger"]["entries_checked"] >= len(report["decisions"])
    assert not (tmp_path / ".warden").exists(), "the demo must not touch ./.warden"


def test_demo_prints_a_readable_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["COLUMNS"] = "160"
    warden = Path(sys.executable).parent / "warden"

    done = subprocess.run([str(warden), "demo"], cwd=tmp_path, env=env, capture_output=True)

    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "step_up" in text and "shadow-scraper" in text and "ledger OK" in text
