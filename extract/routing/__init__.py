"""Department routing (处置单位): ranked suggestions from a classifier trained on a deployment's tickets.

- `text`: what a caller could have said: the ticket text without the operator's routing instruction,
  channel prefix, department replies and callback headers (`strip_routing_instruction`).
- `history`: labelled tickets from CSV, and the stratified train/test split.
- `model`: the classifier (`RoutingModel`, `RoutingOptions`), its training, prediction and model files.
- `evaluation`: top-k accuracy and coverage on labelled texts, predictions as CSV.

Benchmark and defaults: bench/routing.py.
"""

from extract.routing.evaluation import evaluate_routing, write_predictions
from extract.routing.history import read_labelled_csv, read_labelled_rows, stratified_split
from extract.routing.model import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    RoutingModel,
    RoutingOptions,
    SimilarTicket,
    TextEncoder,
)
from extract.routing.text import split_channel_prefix, strip_routing_instruction

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "RoutingModel",
    "RoutingOptions",
    "SimilarTicket",
    "TextEncoder",
    "evaluate_routing",
    "read_labelled_csv",
    "read_labelled_rows",
    "split_channel_prefix",
    "stratified_split",
    "strip_routing_instruction",
    "write_predictions",
]
