"""The model zoo: registered model families and the components they are built from.

from zoo import DataSpec, create_model, apply_initializer
spec = DataSpec("vector", (64,), "classification", num_classes=10)
model = apply_initializer(create_model("mlp", spec, hidden_size=128), "he_normal")
"""

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
from zoo.registry import Registry, UnknownNameError, import_submodules
from zoo.regularizers import create_regularizer, list_regularizers
from zoo.spec import DataSpec

# Every module in this folder is imported, so a model family, initializer or
# regularizer registers itself by being here: a new file needs no import list.
import_submodules(__name__, __path__)

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
