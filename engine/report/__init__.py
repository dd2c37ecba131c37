"""What a run reports once trained: evaluation, metrics, plots, pictures, export, sampling.

Import the module you need (``from engine.report.metrics import classification_report``);
this package imports nothing itself, so drawing a picture during training does not
pull in the evaluation of whole runs.
"""
