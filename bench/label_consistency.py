"""How consistently the Haikou history routes the same request: the ceiling any routing model meets.

For each hold-out ticket (the split of bench/routing.py: stratified 20%, seed 0, the gold calls' tickets in
it), find the most similar training ticket (char 1-2-gram TF-IDF cosine on the stripped texts) and count how
often the two went to the same unit (catalogue names), by similarity band.

    .venv/bin/python bench/label_consistency.py [--csv ../shared/data/haikou12345/tickets.csv]
"""

import argparse
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from extract.catalogue import load_catalogue  # noqa: E402
from extract.routing import read_labelled_rows, stratified_split, strip_routing_instruction  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BANDS = (0.99, 0.9, 0.7, 0.5, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=SHARED / "haikou12345" / "tickets.csv")
    parser.add_argument("--calls", type=Path, default=SHARED / "calls")
    args = parser.parse_args()
    if not args.csv.is_file():
        sys.exit(f"no tickets at {args.csv} (../shared/data is not here)")
    catalogue = load_catalogue()
    texts, labels, ids = read_labelled_rows(args.csv, "诉求内容", "处置单位", "工单编号")
    call_tickets = {
        json.loads(path.read_text(encoding="utf-8"))["source_ticket_id"] for path in args.calls.glob("*.json")
    }
    train, test = stratified_split(
        texts, labels, 0.2, 0, force_test=[i for i, t in enumerate(ids) if t in call_tickets]
    )
    clean = [strip_routing_instruction(text) for text in texts]
    units = [catalogue.canonical(label) for label in labels]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    train_vectors = vectorizer.fit_transform([clean[i] for i in train])
    test_vectors = vectorizer.transform([clean[i] for i in test])
    similarity = (test_vectors @ train_vectors.T).toarray()
    nearest = similarity.argmax(axis=1)
    best = similarity.max(axis=1)
    same = np.array([units[test[row]] == units[train[column]] for row, column in enumerate(nearest)])
    print(f"{'nearest training ticket cosine >=':>34} {'hold-out tickets':>17} {'same unit':>10}")
    for band in BANDS:
        chosen = best >= band
        print(f"{band:>34} {int(chosen.sum()):>17} {same[chosen].mean():>10.3f}")


if __name__ == "__main__":
    main()
