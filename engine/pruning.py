"""Pruning: an Optuna search stops a trial whose validation curve falls behind.

With a pruner (``hydra.sweeper.pruner=median``), the sweeper keeps its study in a
journal file of the sweep directory and hands each trial its study and trial id
(``trial={storage: ..., study: ..., id: ...}``, a key of the run's config). After
every epoch the run reports its objective on the validation split to the study,
``trial.report(value, epoch)``; the median pruner (Optuna's ``MedianPruner``) answers
"prune" when the value is worse than the median of the other trials' values at the
same epoch. The run then tells the study the trial is pruned and stops with
:class:`TrialPruned`: ``train.py`` ends that job quietly, its run directory keeps
the checkpoints of the epochs it trained, and the search goes on with the next trial.

Where it continues: the sweeper is ``hydra_plugins/zoo_optuna_sweeper``; the
trainer calls the hook after each epoch's validation (``Trainer.val_hooks``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.objective import parse


class TrialPruned(Exception):  # noqa: N818 (a stop, not an error: Optuna's name)
    """The search pruned this run after ``epoch`` epochs (not an error)."""

    def __init__(self, epoch: int, value: float) -> None:
        super().__init__(f"pruned after epoch {epoch} (validation objective {value:.4f})")
        self.epoch, self.value = epoch, value


def pruning_hook(trial: Any, objective: str) -> Callable[[int, dict[str, float]], None]:
    """A hook ``(epoch, val_metrics)`` that reports to the trial ``cfg.trial`` names
    and raises :class:`TrialPruned` when the study's pruner says so."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(trial["storage"])))
    study = optuna.load_study(study_name=str(trial["study"]), storage=storage)
    handle = optuna.Trial(study, int(trial["id"]))
    _, metric = parse(objective)

    def report(epoch: int, val: dict[str, float]) -> None:
        value = float(val[metric])
        handle.report(value, epoch)
        if handle.should_prune():
            study.tell(handle, state=optuna.trial.TrialState.PRUNED)
            raise TrialPruned(epoch, value)

    return report
