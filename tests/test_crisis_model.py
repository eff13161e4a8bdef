"""The learned crisis layer (voicecoach/crisis_model.py) and the training batches held to targets.

Targets, not measurements: on the training batch tests/sentences/training/crisis_indirect_train2.yaml
every crisis statement is caught (crisis or crisis_check, idle and in a session); no hard negative
is taken for a crisis; at most HARD_CHECK_SHARE of the hard negatives are asked about. 5% is the
share the issue allows for a kind direct question on an everyday sentence that carries crisis
words; it was set before the layer was measured, and it is not the cross-validated figure (that
one, on sentences the model has not seen, is in docs/intents.md)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from voicecoach import crisis_model as cm
from voicecoach import embed
from voicecoach.config import data_path
from voicecoach.intents import load_matcher

ROOT = Path(__file__).resolve().parent.parent
TRAIN2 = yaml.safe_load((ROOT / "tests/sentences/training/crisis_indirect_train2.yaml").read_text(encoding="utf-8"))
HARD_CHECK_SHARE = 0.05
semantic = pytest.mark.skipif(not embed.available(), reason="needs the semantic extra")


def _trainer():
    spec = importlib.util.spec_from_file_location("train_crisis_model", ROOT / "scripts/train_crisis_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def matcher(tmp_path_factory):
    return load_matcher(tmp_path_factory.mktemp("home"))


def test_model_file_is_small_loads_and_matches_its_training_data():
    path = data_path(cm.MODEL_FILE)
    assert path.stat().st_size < 200_000
    model = cm.default_model()
    assert model.weights.shape == (model.width + len(model.cue_classes),)
    assert 0 < model.low <= model.high <= 1
    texts, labels, _kinds = _trainer().training_data()
    assert model.data_digest == cm.data_digest(texts, labels), "retrain: scripts/train_crisis_model.py"


def test_model_names_only_cue_classes_the_screen_has(matcher):
    assert set(cm.default_model().cue_classes) <= set(matcher.crisis_screen.cues)


def test_a_broken_model_file_names_file_and_key(tmp_path):
    good = json.loads(data_path(cm.MODEL_FILE).read_text(encoding="utf-8"))
    for change, words in (({"weights": [0.1]}, "weights"), ({"low": 0.9, "high": 0.5}, "thresholds"),
                          ({"format": 99}, "format"), ({"views": ["mean4", "sum2"]}, "views")):
        p = tmp_path / "m.json"
        p.write_text(json.dumps({**good, **change}), encoding="utf-8")
        with pytest.raises(cm.CrisisModelError) as exc:
            cm.CrisisModel.from_file(p)
        assert str(p) in str(exc.value) and words in str(exc.value) and "\n" not in str(exc.value)
    bad = {k: v for k, v in good.items() if k != "bias"}
    p.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(cm.CrisisModelError, match="bias"):
        cm.CrisisModel.from_file(p)
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(cm.CrisisModelError, match="not JSON"):
        cm.CrisisModel.from_file(p)


def test_logistic_fit_separates_and_is_deterministic():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(1, 1, (60, 3)), rng.normal(-1, 1, (60, 3))])
    y = np.array([1] * 60 + [0] * 60)
    w1, b1 = cm.fit_logistic(x, y, 0.1)
    w2, b2 = cm.fit_logistic(x, y, 0.1)
    assert np.array_equal(w1, w2) and b1 == b2
    p = cm.cross_val_scores(x, y, 0.1)
    assert ((p >= 0.5) == (y == 1)).mean() >= 0.85


def test_decisions_follow_the_thresholds():
    m = cm.default_model()
    assert m.decide(m.high) == "crisis"
    assert m.decide(m.low) == "crisis_check"
    assert m.decide(m.low / 2) is None


@semantic
def test_layer_is_skipped_without_the_semantic_layer_and_for_answers(matcher):
    text = "i want a sleep that lasts, a really long one, with no alarm, ever"
    caught = "i've been rehoming my rabbits one by one so they're not left on their own"
    assert matcher.match(caught).slots.get("category") == "learned"
    assert matcher.match(caught, expecting_answer=True).slots.get("category") != "learned"
    matcher.use_semantic = False
    try:
        m = matcher.match(caught)
        assert m.slots.get("category") != "learned"
        assert matcher.match(text).name == "crisis_check"  # the rules still ask about this one
    finally:
        matcher.use_semantic = True


@pytest.fixture(scope="module")
def train2_results(matcher):
    missed = [s for s in TRAIN2["crisis"]
              if not all(m.flagged
                         for m in (matcher.match(s), matcher.match(s, in_session=True)))]
    as_crisis, asked = [], []
    for s in TRAIN2["hard_negatives"]:
        m = matcher.match(s)
        if m.crisis:
            as_crisis.append(s)
        elif m.name == "crisis_check":
            asked.append(s)
    return missed, as_crisis, asked


@semantic
def test_no_hard_negative_is_taken_for_a_crisis(train2_results):
    assert not train2_results[1], train2_results[1]


@semantic
@pytest.mark.xfail(strict=True, reason="target not met yet: 323/323 caught, 20/325 hard negatives "
                   "asked about (6.2%); see docs/intents.md")
def test_training_batch_meets_the_targets(train2_results):
    missed, _as_crisis, asked = train2_results
    assert not missed, missed
    assert len(asked) <= HARD_CHECK_SHARE * len(TRAIN2["hard_negatives"]), asked


@semantic
@pytest.mark.slow
def test_training_script_reproduces_the_model():
    r = subprocess.run([sys.executable, str(ROOT / "scripts/train_crisis_model.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "matches" in r.stdout
