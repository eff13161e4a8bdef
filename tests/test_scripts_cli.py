"""scripts list / validate through the real CLI and the real loader."""

from __future__ import annotations

import json

from conftest import run_cli
from helpers import write

GOOD = """id: my-walk
title: A walk
description: A short walk.
source: "Build a Strong Sense of Self: invest in personal interests"
steps:
  - say: Let's go for a walk.
"""


def test_list_json_names_the_builtin_scripts():
    r = run_cli("scripts", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    ids = {row["id"] for row in rows}
    assert {"box-breathing", "thought-record"} <= ids
    for row in rows:
        assert set(row) >= {"id", "title", "techniques", "intents", "source"}
        assert row["source"]


def test_validate_reports_every_problem_as_file_line(tmp_path):
    bad = write(tmp_path, "bad.yaml", """id: Bad Id
title: t
description: d
source: s
steps:
  - say: hello
    pasue: 2
  - breathe: {inhale: 4, exhail: 4}
  - goto: nowhere
  - dance: yes
  - ask: What?
""")
    r = run_cli("scripts", "validate", str(bad))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert any(f"{bad}:1:" in ln and "id 'Bad Id'" in ln for ln in lines)
    assert any(f"{bad}:7:" in ln and "unknown key 'pasue'" in ln for ln in lines)
    assert any(f"{bad}:8:" in ln and "unknown breathing phase 'exhail'" in ln for ln in lines)
    assert any(f"{bad}:9:" in ln and "goto target 'nowhere'" in ln for ln in lines) or any("nowhere" in ln for ln in lines)
    assert any(f"{bad}:10:" in ln and "unknown step kind 'dance'" in ln for ln in lines)
    assert any(f"{bad}:11:" in ln and "needs 'as: name'" in ln for ln in lines)
    assert "Traceback" not in r.stderr


def test_validate_malformed_yaml_and_non_mapping(tmp_path):
    a = write(tmp_path, "a.yaml", "id: [unclosed\n")
    b = write(tmp_path, "b.yaml", "- just\n- a list\n")
    c = write(tmp_path, "c.yaml", GOOD)
    r = run_cli("scripts", "validate", str(a), str(b), str(c))
    assert r.returncode == 1
    assert f"{a}:2: invalid YAML" in r.stderr
    assert f"{b}:1:" in r.stderr
    assert str(c) not in r.stderr


def test_validate_good_file_exits_zero(tmp_path):
    r = run_cli("scripts", "validate", str(write(tmp_path, "good.yaml", GOOD)))
    assert r.returncode == 0, r.stderr


def test_user_scripts_add_to_the_library_but_cannot_replace_crisis_support(voicecoach_home):
    (voicecoach_home / "scripts").mkdir()
    write(voicecoach_home / "scripts", "walk.yaml", GOOD)
    write(voicecoach_home / "scripts", "crisis.yaml", GOOD.replace("my-walk", "crisis-support"))
    r = run_cli("scripts", "list", "--json", env={"VOICECOACH_HOME": str(voicecoach_home)})
    ids = {row["id"] for row in json.loads(r.stdout)}
    assert "my-walk" in ids
    assert "cannot be replaced" in r.stderr
