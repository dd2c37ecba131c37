"""Zero-shot task: DAP's rule, ESZSL's closed form, the attribute table's checks, and
both methods training, testing and resuming through the trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FAST, compose_cfg
from resume_checks import killed_and_resumed

import zoo
from engine.data.attributes import SHIPPED, read_table
from engine.errors import ConfigError
from engine.report.evaluation import evaluate_runs
from engine.run import make_trainer, save_config, train
from engine.tasks.zeroshot import dap_scores, eszsl_weights

QUIET = [*FAST, "logger=none", "task=zeroshot", "loss=bce"]


def test_eszsl_closed_form_equals_a_direct_least_squares_solve() -> None:
    """min ‖XVSᵀ − Y‖² + γ‖VSᵀ‖² + λ‖XV‖² + γλ‖V‖² over V, as one stacked lstsq
    in vec(V) (column-major: vec(X V Sᵀ) = (S ⊗ X) vec V)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    s = torch.rand(5, 3, generator=g, dtype=torch.float64)
    y = torch.randn(30, 5, generator=g, dtype=torch.float64)
    gamma, lam = 0.7, 1.3
    d, a = 4, 3
    blocks = [
        torch.kron(s, x),
        gamma**0.5 * torch.kron(s, torch.eye(d, dtype=x.dtype)),
        lam**0.5 * torch.kron(torch.eye(a, dtype=x.dtype), x),
        (gamma * lam) ** 0.5 * torch.eye(d * a, dtype=x.dtype),
    ]
    rhs = torch.cat([y.T.reshape(-1), torch.zeros(sum(len(b) for b in blocks[1:]), dtype=x.dtype)])
    v = torch.linalg.lstsq(torch.cat(blocks), rhs[:, None]).solution.reshape(a, d).T
    torch.testing.assert_close(eszsl_weights(x, y, s, gamma, lam), v)


def test_dap_is_the_log_posterior_of_independent_attributes() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    s = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    prior = torch.tensor([0.5, 0.25, 0.75])
    p = torch.sigmoid(logits)[0]
    expected = []
    for row in s:
        like = torch.where(row == 1, p, 1 - p).log().sum()
        expected.append(like - torch.where(row == 1, prior, 1 - prior).log().sum())
    torch.testing.assert_close(dap_scores(logits, s, prior)[0], torch.stack(expected))


def test_the_shipped_digit_table_tells_every_digit_apart() -> None:
    classes, attributes, s = read_table(SHIPPED["digits"])
    assert classes == [str(d) for d in range(10)] and len(attributes) == 8
    assert len({tuple(row.tolist()) for row in s}) == 10
    assert s[8].sum() == 8 and s[1].tolist()[:7] == [0, 1, 1, 0, 0, 0, 0]  # 8 lights all


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["task.attributes=TABLE"], "describes classes 0, 1, 2, but the data has 0, 1, 2, 3"),
        (["task.unseen_classes=[9]"], "at least 2 seen and 2 unseen"),
        (["data=iris"], "no class-attribute table ships for data 'iris'"),
        (["model=perceptron"], "no 'embedding' capability"),
        (["augment=noise"], "does not take augmented batches; use augment=none"),
    ],
)
def test_bad_tables_and_splits_fail_in_one_line(extra, message, tmp_path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("class,a,b\n0,1,0\n1,0,1\n2,1,1\n")
    extra = [e.replace("TABLE", str(table)) for e in extra]
    with pytest.raises(ConfigError, match=message) as e:
        make_trainer(compose_cfg(*QUIET, *extra), tmp_path / "run")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("method", ["dap", "eszsl"])
def test_both_methods_report_unseen_and_generalized_accuracy(method, tmp_path) -> None:
    cfg = compose_cfg(*QUIET, f"task.method={method}", "trainer.max_epochs=5")
    a, b = train(cfg, tmp_path / "a"), train(cfg, tmp_path / "b")
    assert a["test"] == b["test"]
    test = a["test"]
    assert 0.2 < test["unseen_accuracy"] <= 1  # 3 unseen digits: chance is 1/3
    assert test["gzsl_seen"] > 0.8  # seen digits are recognized among all ten
    s, u = test["gzsl_seen"], test["gzsl_unseen"]
    assert test["gzsl_h"] == pytest.approx(2 * s * u / (s + u) if s + u else 0.0)


def test_the_unseen_classes_are_never_trained_on(tmp_path) -> None:
    _, built = make_trainer(compose_cfg(*QUIET), tmp_path)
    assert set(built.data.splits["train"][1].tolist()) == set(range(7))
    assert set(built.data.splits["test"][1].tolist()) == set(range(10))
    assert (built.data.splits["test"][1] >= 7).sum() > 500  # every sample of 7, 8 and 9


def test_resume_after_a_kill_continues_exactly(tmp_path, monkeypatch) -> None:
    common = [*QUIET, "trainer.max_epochs=2", "trainer.checkpoint_interval_s=0"]
    straight, resumed, *_ = killed_and_resumed(common, tmp_path, monkeypatch, epoch=2)
    assert resumed["test"] == straight["test"]


@pytest.mark.parametrize("model", zoo.models_with("embedding"))
def test_every_embedding_model_learns_the_attributes(model, tmp_path) -> None:
    """Any model with the ``embedding`` capability gives the A attribute logits, and
    training on the seen digits lowers their validation BCE below the untrained one's."""
    common = [*QUIET, f"model={model}"]
    runs = {}
    for name, epochs in (("untrained", 0), ("trained", 3)):
        cfg = compose_cfg(*common, f"trainer.max_epochs={epochs}")
        save_config(cfg, tmp_path / name)
        runs[name] = train(cfg, tmp_path / name)
    untrained, trained = runs["untrained"], runs["trained"]
    assert trained["val"]["loss"] < untrained["val"]["loss"]
    assert 0 <= trained["test"]["unseen_accuracy"] <= 1


def test_evaluate_repeats_the_zero_shot_metrics(tmp_path) -> None:
    run = tmp_path / "run"
    cfg = compose_cfg(*QUIET, "task.method=eszsl")
    save_config(cfg, run)  # .hydra/config.yaml, as train.py writes it
    trained = train(cfg, run)
    result = evaluate_runs([run], tmp_path / "eval")
    assert result["test"] == trained["test"]
    saved = np.load(tmp_path / "eval" / "predictions.npz")
    assert set(saved["unseen_labels"].tolist()) == {"7", "8", "9"}
    assert saved["unseen_embeddings"].shape[1] == 8  # one logit per attribute
