"""scGPT's own code as the reference for textcell's scGPT: run in the venv of
``bash scripts/setup_scgpt_reference.sh`` (scgpt==0.2.4 installed --no-deps, torch, numpy, tqdm).

``import scgpt`` fails there (torchtext, IPython), so the package is entered without running its
``__init__``: ``scgpt/model/model.py`` and ``scgpt/data_collator.py`` are imported as they are, and
the three functions they need from modules with unrelated heavy imports (``binning`` and
``_digitize`` from ``preprocess.py``, ``load_pretrained`` from ``utils/util.py``) are compiled
from their source files alone. What ``tasks/cell_emb.py`` does around them (vocabulary lookup by
exact name, ``<cls>`` with ``pad_value``, the collator's binning and sampling, padding to the
batch's longest cell, ``_encode(...)[:, 0]``, L2) is written out below line for line.

Commands (arrays travel as ``.npz`` files, read without pickle)::

    python scgpt_reference.py --check TORCH_VERSION SCGPT_VERSION
    python scgpt_reference.py build --out DIR --config whole-human|small --seed 0 [--namings Wqkv in_proj]
    python scgpt_reference.py run --checkpoint DIR --cells cells.npz --out result.npz [--seed 0]
        [--max-length 1200] [--batch-size 64] [--threads N] [--outputs all|embed]

``cells.npz`` holds ``counts`` (cells × genes) and ``genes`` (names). ``run`` writes the padded
tokens of each batch, the raw and normalised ``<cls>`` embeddings and (``--outputs all``) the
GEP, MVC and CLS outputs, plus timing and peak memory.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import logging
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch

SPECIALS = ("<pad>", "<cls>", "<eoc>")

# The whole-human checkpoint's args.json (scGPT_human, May 2023), the fields that matter.
WHOLE_HUMAN_ARGS = {
    "input_style": "binned",
    "input_emb_style": "continuous",
    "n_bins": 51,
    "max_seq_len": 1200,
    "pad_token": "<pad>",
    "nlayers": 12,
    "nheads": 8,
    "embsize": 512,
    "d_hid": 512,
    "dropout": 0.2,
    "n_layers_cls": 3,
    "mask_value": -1,
    "pad_value": -2,
    "MVC": True,
    "USE_CLS": False,
    "USE_CCE": False,
    "USE_GENERATIVE_TRAINING": True,
    "fast_transformer": True,
}
# A small architecture that differs from whole-human wherever a mix-up could hide.
SMALL_ARGS = {**WHOLE_HUMAN_ARGS, "nlayers": 2, "nheads": 4, "embsize": 64, "d_hid": 96, "n_layers_cls": 2}
N_CLS = {"whole-human": 1, "small": 5}


def scgpt_root() -> Path:
    if "scgpt" in sys.modules:  # the stand-in package of load_reference
        return Path(sys.modules["scgpt"].__path__[0])
    spec = importlib.util.find_spec("scgpt")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scgpt is not installed in this environment (bash scripts/setup_scgpt_reference.sh)")
    return Path(next(iter(spec.submodule_search_locations)))


def _function_from(path: Path, name: str, namespace: dict):
    """Compile one top-level function of a source file on its own, into ``namespace``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


def load_reference():
    """(scgpt.model.model, DataCollator, load_pretrained) of the installed scGPT."""
    root = scgpt_root()
    logger = logging.getLogger("scGPT")
    package = types.ModuleType("scgpt")
    package.__path__ = [str(root)]
    package.logger = logger
    sys.modules["scgpt"] = package
    model_package = types.ModuleType("scgpt.model")
    model_package.__path__ = [str(root / "model")]
    sys.modules["scgpt.model"] = model_package
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "flash_attn is not installed"
        model_module = importlib.import_module("scgpt.model.model")

    import typing

    preprocess = types.ModuleType("scgpt.preprocess")
    namespace = {"np": np, "torch": torch, "logger": logger, **vars(typing)}
    for name in ("_digitize", "binning"):
        setattr(preprocess, name, _function_from(root / "preprocess.py", name, namespace))
    sys.modules["scgpt.preprocess"] = preprocess
    collator_module = importlib.import_module("scgpt.data_collator")
    load_pretrained = _function_from(
        root / "utils" / "util.py", "load_pretrained", {"torch": torch, "logger": logger, **vars(typing)}
    )
    return model_module, collator_module.DataCollator, load_pretrained


def read_vocab(path: Path) -> dict[str, int]:
    """GeneVocab.from_file + embed_data's appending of the special tokens."""
    vocab = json.loads(path.read_text())
    for token in SPECIALS:
        if token not in vocab:
            vocab[token] = len(vocab)
    return vocab


def build_model(model_module, vocab: dict, args: dict, n_cls: int):
    """The model embed_data builds (flash-attn is not installed, so nn.TransformerEncoder)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model_module.TransformerModel(
            ntoken=len(vocab),
            d_model=args["embsize"],
            nhead=args["nheads"],
            d_hid=args["d_hid"],
            nlayers=args["nlayers"],
            nlayers_cls=args["n_layers_cls"],
            n_cls=n_cls,
            vocab=vocab,
            dropout=args["dropout"],
            pad_token=args["pad_token"],
            pad_value=args["pad_value"],
            do_mvc=True,
            do_dab=False,
            use_batch_labels=False,
            domain_spec_batchnorm=False,
            explicit_zero_prob=False,
            use_fast_transformer=True,
            fast_transformer_backend="flash",
            pre_norm=False,
        )


# ----------------------------------------------------------------------------------- commands


def check(torch_version: str, scgpt_version: str) -> None:
    from importlib.metadata import version

    if version("torch").split("+")[0] != torch_version:
        raise SystemExit(f"torch {version('torch')}, expected {torch_version}")
    if torch.version.cuda is not None:
        raise SystemExit(f"expected the CPU build of torch, got CUDA {torch.version.cuda}")
    if version("scgpt") != scgpt_version:
        raise SystemExit(f"scgpt {version('scgpt')}, expected {scgpt_version}")
    model_module, _, _ = load_reference()
    vocab = read_vocab(scgpt_root() / "tokenizer" / "default_census_vocab.json")
    model = build_model(model_module, vocab, WHOLE_HUMAN_ARGS, 1)
    n = sum(p.numel() for p in model.state_dict().values())
    if len(vocab) != 60_697 or n != 51_856_898:
        raise SystemExit(f"whole-human model: {len(vocab)} tokens, {n} parameters")
    print(f"scgpt {scgpt_version} reference loads; whole-human model {n:,} parameters", file=sys.stderr)


def build(out: Path, config: str, seed: int, namings: list[str]) -> None:
    """Random weights (every parameter perturbed, so no LayerNorm is the identity), saved in
    official folders: best_model.pt with each attention naming, vocab.json (the census vocabulary
    with the special tokens), args.json."""
    model_module, _, _ = load_reference()
    vocab = read_vocab(scgpt_root() / "tokenizer" / "default_census_vocab.json")
    args = WHOLE_HUMAN_ARGS if config == "whole-human" else SMALL_ARGS
    torch.manual_seed(seed)
    model = build_model(model_module, vocab, args, N_CLS[config])
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in model.parameters():
            scale = (
                0.1 * float(parameter.std()) if parameter.numel() > 1 and float(parameter.std()) > 0 else 0.1
            )
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    state = model.state_dict()
    for naming in namings:
        folder = out / naming
        folder.mkdir(parents=True, exist_ok=True)
        named = (
            state if naming == "in_proj" else {k.replace("in_proj_", "Wqkv."): v for k, v in state.items()}
        )
        torch.save(named, folder / "best_model.pt")
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "args.json").write_text(json.dumps({**args, "n_cls": N_CLS[config]}, indent=2))
    print(f"wrote {', '.join(namings)} under {out}", file=sys.stderr)


def run(
    checkpoint: Path, cells: Path, out: Path, seed: int, max_length: int, batch_size: int, outputs: str
) -> None:
    """embed_data on the given cells, one DataCollator call per cell after
    ``np.random.seed([seed, i])`` (textcell seeds each cell the same way)."""
    model_module, data_collator, load_pretrained = load_reference()
    vocab = read_vocab(checkpoint / "vocab.json")
    args = json.loads((checkpoint / "args.json").read_text())
    model = build_model(model_module, vocab, args, int(args.get("n_cls", 1)))
    load_pretrained(model, torch.load(checkpoint / "best_model.pt", map_location="cpu"), verbose=False)
    model.eval()

    with np.load(cells, allow_pickle=False) as saved:
        counts, genes = saved["counts"], saved["genes"]
    id_in_vocab = np.array([vocab.get(str(g), -1) for g in genes])
    counts = counts[:, id_in_vocab >= 0]
    gene_ids = id_in_vocab[id_in_vocab >= 0]
    collator = data_collator(
        do_padding=True,
        pad_token_id=vocab[args["pad_token"]],
        pad_value=args["pad_value"],
        do_mlm=False,
        do_binning=True,
        max_length=max_length,
        sampling=True,
        keep_first_n_tokens=1,
    )

    def example(i: int) -> dict:  # get_batch_cell_embeddings' Dataset.__getitem__
        row = counts[i]
        nonzero_idx = np.nonzero(row)[0]
        values = row[nonzero_idx]
        cell_genes = gene_ids[nonzero_idx]
        cell_genes = np.insert(cell_genes, 0, vocab["<cls>"])
        values = np.insert(values, 0, args["pad_value"])
        return {
            "id": i,
            "genes": torch.from_numpy(cell_genes).long(),
            "expressions": torch.from_numpy(values).float(),
        }

    results: dict[str, list] = {k: [] for k in ("genes", "values", "padding", "cell_emb", "embedding")}
    if outputs == "all":
        results.update(expr=[], mvc=[], cls=[])
    length = 0
    forward_seconds = 0.0
    start, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for first in range(0, len(counts), batch_size):
            tokenized = []
            for i in range(first, min(first + batch_size, len(counts))):
                np.random.seed([seed, i])
                torch.manual_seed(seed * 1_000_003 + i)
                one = collator([example(i)])
                tokenized.append((one["gene"][0], one["expr"][0]))
            longest = max(len(g) for g, _ in tokenized)
            padded = [collator._pad(g, v, longest) if len(g) < longest else (g, v) for g, v in tokenized]
            src = torch.stack([g for g, _ in padded])
            values = torch.stack([v for _, v in padded])
            padding = src.eq(vocab[args["pad_token"]])
            t = time.perf_counter()
            if outputs == "all":
                output = model(src, values, padding, CLS=True, MVC=True)
                cell = output["cell_emb"]
            else:
                cell = model._encode(src, values, src_key_padding_mask=padding)[:, 0, :]
            forward_seconds += time.perf_counter() - t
            cell = cell.numpy()
            results["cell_emb"].append(cell)
            results["embedding"].append(cell / np.linalg.norm(cell, axis=1, keepdims=True))
            for key, array in (("genes", src), ("values", values), ("padding", padding)):
                results[key].append(array.numpy())
            if outputs == "all":
                results["expr"].append(output["mlm_output"].numpy())
                results["mvc"].append(output["mvc_output"].numpy())
                results["cls"].append(output["cls_output"].numpy())
            length = max(length, longest)
    total_seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    arrays = {}
    for key, parts in results.items():
        if key in ("genes", "values", "padding", "expr", "mvc"):
            fill = True if key == "padding" else 0
            parts = [np.pad(p, ((0, 0), (0, length - p.shape[1])), constant_values=fill) for p in parts]
        arrays[key] = np.concatenate(parts)
    arrays["forward_seconds"] = np.array(forward_seconds)
    arrays["total_seconds"] = np.array(total_seconds)
    arrays["cpu_seconds"] = np.array(cpu_seconds)
    arrays["peak_rss_bytes"] = np.array(peak_rss())
    arrays["threads"] = np.array(torch.get_num_threads())
    np.savez(out, **arrays)


def peak_rss() -> int:
    """Peak resident memory in bytes (VmHWM: reset by exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--check":
        check(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--config", choices=("whole-human", "small"), default="whole-human")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--namings", nargs="+", default=["Wqkv", "in_proj"])
    r = sub.add_parser("run")
    r.add_argument("--checkpoint", type=Path, required=True)
    r.add_argument("--cells", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--max-length", type=int, default=1200)
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--threads", type=int)
    r.add_argument("--outputs", choices=("all", "embed"), default="all")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.out, args.config, args.seed, args.namings)
    else:
        if args.threads:
            torch.set_num_threads(args.threads)
        run(args.checkpoint, args.cells, args.out, args.seed, args.max_length, args.batch_size, args.outputs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
