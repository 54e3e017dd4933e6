"""Department routing (处置单位): ranked suggestions from a classifier trained on a deployment's tickets.

- `strip_routing_instruction` (from `extract.request_text`, outside this package so that related-ticket search
  can clean a text without loading the classifier's libraries): what a caller could have said, the ticket text
  without the operator's routing instruction, channel prefix, department replies and callback headers.
- `history`: labelled tickets from CSV, the stratified and temporal train/test splits, validation folds.
- `model`: the classifier (`RoutingModel`, `RoutingOptions`), its training, calibration, prediction and model files.
- `calibration`: the auto-dispatch share at a target error rate, top-score calibration, expected calibration error.
- `confidence`: the stacked dispatch confidence (how the ranker's parts agree → P(first choice right)).
- `evaluation`: top-k accuracy, auto-dispatch share and calibration on labelled texts, predictions as CSV.

Benchmark and defaults: bench/routing.py.
"""

from extract.request_text import split_channel_prefix, strip_routing_instruction
from extract.routing.calibration import (
    DEFAULT_TARGET_ERROR,
    TopScoreCalibration,
    auto_dispatch_share,
    calibration_error,
    share_at_threshold,
)
from extract.routing.evaluation import evaluate_routing, write_predictions
from extract.routing.history import (
    month_of,
    read_labelled_csv,
    read_labelled_rows,
    stratified_folds,
    stratified_split,
    temporal_split,
    validation_folds,
)
from extract.routing.model import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    RoutingModel,
    RoutingOptions,
    SimilarTicket,
    TextEncoder,
)

__all__ = [
    "DEFAULT_TARGET_ERROR",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "RoutingModel",
    "RoutingOptions",
    "SimilarTicket",
    "TextEncoder",
    "TopScoreCalibration",
    "auto_dispatch_share",
    "calibration_error",
    "evaluate_routing",
    "month_of",
    "read_labelled_csv",
    "read_labelled_rows",
    "share_at_threshold",
    "split_channel_prefix",
    "stratified_folds",
    "stratified_split",
    "strip_routing_instruction",
    "temporal_split",
    "validation_folds",
    "write_predictions",
]
