"""Class-attribute tables: each class described by attributes, for zero-shot learning.

Zero-shot classification names a class the model never saw from a description of it
(Lampert, Nickisch & Harmeling 2009: a zebra is "horse-like, striped"). The
description is a row of a class-attribute table S, one row per class and one column
per attribute, in a plain CSV file a user can write for their own data::

    class,top,top_right,bottom_right,bottom,bottom_left,top_left,middle,closed_loop
    0,1,1,1,1,1,1,0,1
    7,1,1,1,0,0,0,0,0

The first column names the class as the data does (``data.class_names``: digits'
``0``..``9``, a folder's name for ``image_folder``); the others are attributes with
values in [0, 1] (1 = has it). The zoo ships one for the digits
(``engine/data/digits_attributes.csv``): the seven segments of a seven-segment display
(top, top right, bottom right, bottom, bottom left, top left, middle) that a digit lights,
and whether the handwritten digit has a closed loop (0, 6, 8, 9). Every digit has its own
row, so any three of them can be told apart by attributes alone.

Where it continues: the zero-shot task that reads it is ``engine/tasks/zeroshot.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from engine.errors import ConfigError

# Tables that ship with the zoo, by dataset name (``task.attributes=null`` picks one).
SHIPPED = {"digits": Path(__file__).with_name("digits_attributes.csv")}


def table_path(path: str | None, data_name: str | None) -> Path:
    """The table to read: ``path`` as given, else the one shipped for the dataset."""
    if path is not None:
        return Path(path)
    if data_name not in SHIPPED:
        raise ConfigError(
            f"no class-attribute table ships for data '{data_name}'; give one with "
            f"task.attributes=path/to/table.csv (header: class,attribute,...; one row per "
            f"class; shipped for {', '.join(SHIPPED)})"
        )
    return SHIPPED[data_name]


def read_table(path: Path) -> tuple[list[str], list[str], torch.Tensor]:
    """(class names, attribute names, S ``(C, A)`` float) of a table file."""
    if not path.is_file():
        raise ConfigError(f"task.attributes={path} is not a file")
    with path.open(newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    header, body = rows[0], rows[1:]
    try:
        values = [[float(v) for v in row[1:]] for row in body]
    except ValueError as e:
        raise ConfigError(f"{path}: attribute values must be numbers in [0, 1] ({e})") from None
    if not body or any(len(v) != len(header) - 1 for v in values) or len(header) < 2:
        raise ConfigError(
            f"{path}: needs a header 'class,<attribute>,...' and one row per class with a "
            f"value for each of its {len(header) - 1} attributes"
        )
    s = torch.tensor(values)
    if bool(((s < 0) | (s > 1)).any()):
        raise ConfigError(f"{path}: attribute values must lie in [0, 1]")
    return [row[0].strip() for row in body], [h.strip() for h in header[1:]], s


def table_for(path: Path, class_names: list[str]) -> tuple[list[str], torch.Tensor]:
    """The table's attribute names and its rows in the data's class order, ``(C, A)``;
    one line when its classes are not exactly the data's."""
    classes, attributes, s = read_table(path)
    if sorted(classes) != sorted(class_names) or len(set(classes)) != len(classes):
        missing = [c for c in class_names if c not in classes]
        extra = [c for c in classes if c not in class_names]
        raise ConfigError(
            f"the attribute table {path} describes classes {', '.join(classes)}, but the data "
            f"has {', '.join(class_names)} (missing: {', '.join(missing) or 'none'}; not in the "
            f"data: {', '.join(extra) or 'none'}); give one row per class of the data"
        )
    return attributes, s[[classes.index(c) for c in class_names]]
