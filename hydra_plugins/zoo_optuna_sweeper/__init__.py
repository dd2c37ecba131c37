"""A Hydra sweeper on the current Optuna (``hydra/sweeper=optuna``): see ``sweeper.py``."""
