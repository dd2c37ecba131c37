"""Hyperparameter search with Optuna, as a Hydra sweeper: ``python train.py -m
hparams_search=digits_optuna`` (configs/hydra/sweeper/optuna.yaml).

Hydra's own Optuna sweeper (hydra-optuna-sweeper, 1.3.0 on PyPI) still requires
``optuna<3``: Optuna 2.10 with SQLAlchemy 1.3, which the pinned stack here does not
take. This one is small and runs on the current Optuna: it asks the study for
``n_jobs`` trials at a time, launches them as one batch through the configured
Hydra launcher (the basic one, joblib for local parallel trials, submitit for
SLURM), and tells the study each trial's return value: ``train.py`` returns
``objective`` (a validation metric), and the direction follows from that metric
unless ``direction`` is set. A trial that fails is told as failed and the search
goes on. Each trial is an ordinary job of the sweep: its own run directory (and
TensorBoard run) under ``hydra.sweep.dir``; the best trial is printed and written
to ``<sweep dir>/optimization_results.yaml``.

The search space, ``params``, uses Hydra's override grammar, as Hydra's plugin does:

    optim.lr: tag(log, interval(1e-4, 1e-1))   -> FloatDistribution(log=True)
    model.dropout: interval(0.0, 0.5)          -> FloatDistribution
    model.hidden_size: choice(64, 128, 256)    -> CategoricalDistribution
    model.num_layers: range(1, 4)              -> IntDistribution (step 1, 4 excluded)
    optim: choice(adam, sgd)                   -> a config group's option

and any sweep given on the command line joins it (``'optim.lr=interval(0.01,0.1)'``).
The sampler is TPE (tree-structured Parzen estimators, Bergstra et al. 2011) seeded
by ``seed``, or ``random``.

Pruning (``pruner: median``): the study then lives in ``<sweep dir>/optuna.journal``
(Optuna's journal file storage: no database, safe for trials in several processes on
one file system), and each trial gets ``trial={storage, study, id}`` so that the run
reports its validation objective after every epoch and stops when Optuna's
``MedianPruner`` finds it worse than the median of the trials before it at that
epoch (engine/pruning.py). A pruned trial is marked PRUNED, not failed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

# Optuna is imported where a sweep uses it, not here: Hydra imports every module under
# hydra_plugins/ when any train.py run starts, and Optuna's import is a few tenths of a
# second of that start-up (bench/startup.py).
if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random")
PRUNERS = (None, "median")


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (choice, range or interval)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    value = override.value()
    if override.is_choice_sweep():
        assert isinstance(value, ChoiceSweep)
        return CategoricalDistribution(list(override.sweep_iterator(Transformer.encode)))
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        ints = all(isinstance(v, int) for v in (value.start, value.stop, value.step))
        if ints:  # range(a, b) excludes b, as Python's
            return IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
        return FloatDistribution(value.start, value.stop, step=value.step)
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(value.start, value.end, log=log_scale)
    raise ValueError(f"{override.input_line}: not a sweep (choice, range or interval)")


def objective_direction(config: DictConfig) -> str:
    """``maximize`` or ``minimize``, from the app's ``objective`` (engine.objective)."""
    from engine.objective import direction

    return direction(config.get("objective", "val/loss"))


class OptunaSweeper(Sweeper):
    """Ask, launch a batch, tell: ``n_trials`` trials, ``n_jobs`` at a time."""

    def __init__(
        self,
        n_trials: int,
        n_jobs: int = 1,
        sampler: str = "tpe",
        seed: int | None = None,
        direction: str | None = None,
        study_name: str | None = None,
        params: dict[str, Any] | None = None,
        pruner: str | None = None,
        pruner_startup_trials: int = 4,
        pruner_warmup_epochs: int = 2,
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"hydra.sweeper.sampler={sampler}: use one of {', '.join(SAMPLERS)}")
        if pruner not in PRUNERS:
            raise ValueError(f"hydra.sweeper.pruner={pruner}: use null or median")
        self.pruner = pruner
        self.pruner_startup_trials = pruner_startup_trials
        self.pruner_warmup_epochs = pruner_warmup_epochs
        if n_trials < 1 or n_jobs < 1:
            raise ValueError("hydra.sweeper.n_trials and n_jobs must be >= 1")
        self.n_trials, self.n_jobs, self.seed = n_trials, n_jobs, seed
        self.sampler, self.direction, self.study_name = sampler, direction, study_name
        self.params = dict(params or {})

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _space(self, arguments: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
        """The search space (config's params, then the command line's sweeps) and the
        fixed overrides every trial gets."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        space, fixed = {}, {}
        for override in parser.parse_overrides(lines):
            key = override.get_key_element()
            if override.is_sweep_override():
                space[key] = distribution(override)
                fixed.pop(key, None)
            else:
                fixed[key] = f"{key}={override.get_value_element_as_str()}"
                space.pop(key, None)
        return space, list(fixed.values())

    def sweep(self, arguments: list[str]) -> list[Any]:
        space, fixed = self._space(arguments)
        direction = self.direction or objective_direction(self.config)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        import optuna
        from optuna.trial import TrialState

        sampler = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
        study = optuna.create_study(
            study_name=self.study_name or "zoo",
            storage=self._storage(sweep_dir),
            direction=direction,
            sampler=sampler[self.sampler](seed=self.seed),
            pruner=self._pruner(),
        )
        log.info(
            f"Optuna {self.sampler} search, {self.n_trials} trials ({self.n_jobs} at a time), "
            f"{direction} {self.config.get('objective')} over {', '.join(space)}"
        )
        results, done = [], 0
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [
                [*fixed, *(f"{k}={v}" for k, v in trial.params.items()), *self._handle(trial)]
                for trial in trials
            ]
            self.validate_batch_is_legal(batch)
            returns = self.launcher.launch(batch, initial_job_idx=done)
            for trial, ret in zip(trials, returns, strict=True):
                if study._storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
                    continue  # the run told the study itself: pruned
                value = _value_of(ret)
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, value)
            results.append(returns)
            done += len(trials)
        self._report(study, sweep_dir)
        return results

    def _storage(self, sweep_dir: Path) -> Any:
        """In memory; a journal file in the sweep directory when trials report to it."""
        if self.pruner is None:
            return None
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(sweep_dir.absolute() / "optuna.journal")))

    def _pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        if self.pruner is None:
            return optuna.pruners.NopPruner()
        return optuna.pruners.MedianPruner(
            n_startup_trials=self.pruner_startup_trials, n_warmup_steps=self.pruner_warmup_epochs
        )

    def _handle(self, trial: optuna.Trial) -> list[str]:
        """The override that lets a run report to its trial (with a pruner only)."""
        if self.pruner is None:
            return []
        journal = Path(self.config.hydra.sweep.dir).absolute() / "optuna.journal"
        study = trial.study.study_name
        return [f"trial={{storage:'{journal}',study:'{study}',id:{trial._trial_id}}}"]

    @staticmethod
    def _report(study: optuna.Study, sweep_dir: Path) -> None:
        from optuna.trial import TrialState

        finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if not finished:
            log.error("no trial finished: nothing to report")
            return
        best = study.best_trial
        params = " ".join(f"{k}={v}" for k, v in best.params.items())
        pruned = sum(t.state == TrialState.PRUNED for t in study.trials)
        log.info(
            f"best trial #{best.number}: {best.value:.4f} with {params}"
            + (f" ({pruned} of {len(study.trials)} trials pruned)" if pruned else "")
        )
        OmegaConf.save(
            OmegaConf.create(
                {
                    "name": "optuna",
                    "direction": study.direction.name.lower(),
                    "best_trial": best.number,
                    "best_value": best.value,
                    "best_params": best.params,
                    "trials": [
                        {"number": t.number, "value": t.value, "state": t.state.name,
                         "params": t.params}
                        for t in study.trials
                    ],
                }
            ),
            sweep_dir / "optimization_results.yaml",
        )  # fmt: skip


def _value_of(ret: Any) -> float | None:
    """A job's objective, or None when it failed (train.py's failed jobs return None)."""
    try:
        value = ret.return_value
    except Exception:  # the launcher kept the job's exception
        return None
    return None if value is None else float(value)
