"""The model zoo: registered model families and the components they are built from.

from zoo import DataSpec, create_model, apply_initializer
spec = DataSpec("vector", (64,), "classification", num_classes=10)
model = apply_initializer(create_model("mlp", spec, hidden_size=128), "he_normal")
"""

# Importing a model family registers its builders.
from zoo import autoencoder, cnn, gan, gnn, recurrent, resnet, transformer  # noqa: F401
from zoo.activations import list_activations, make_activation
from zoo.factory import (
    IncompatibleDataError,
    create_model,
    list_models,
    model_capabilities,
    model_input_kinds,
    model_task,
    models_with,
    register_model,
)
from zoo.initializers import apply_initializer, list_initializers
from zoo.mlp import MLP
from zoo.perceptron import Perceptron
from zoo.registry import Registry, UnknownNameError
from zoo.regularizers import create_regularizer, list_regularizers
from zoo.spec import DataSpec

__all__ = [
    "MLP",
    "DataSpec",
    "IncompatibleDataError",
    "Perceptron",
    "Registry",
    "UnknownNameError",
    "apply_initializer",
    "create_model",
    "create_regularizer",
    "list_activations",
    "list_initializers",
    "list_models",
    "list_regularizers",
    "make_activation",
    "model_capabilities",
    "model_input_kinds",
    "model_task",
    "models_with",
    "register_model",
]
