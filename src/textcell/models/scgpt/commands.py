"""``textcell scgpt …`` commands (registered in textcell.cli; torch is imported only when they run)."""

from __future__ import annotations

import argparse
import time


def embed(args: argparse.Namespace) -> int:
    from ... import tl
    from ...cli import _read_h5ad, _write_h5ad
    from .checkpoint import load_checkpoint

    scgpt = load_checkpoint(args.checkpoint, device=args.device)
    print(
        f"scGPT checkpoint {args.checkpoint}: {scgpt.config.n_parameters / 1e6:.1f} M parameters, "
        f"{len(scgpt.vocab):,} tokens, fingerprint {scgpt.fingerprint[:16]}"
    )
    adata = _read_h5ad(args.h5ad, backed=False)
    start = time.perf_counter()
    tl.scgpt_embed(
        adata,
        checkpoint=scgpt,
        layer=args.layer,
        use_raw=args.use_raw,
        highly_variable=args.hvg,
        match=args.match,
        species=args.species,
        max_length=args.max_length,
        batch_size=args.batch_size,
        dtype=args.dtype,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        key_added=args.key_added,
    )
    seconds = time.perf_counter() - start
    genes = adata.uns[args.key_added]["genes"]
    routes = ", ".join(f"{route} {n:,}" for route, n in genes["routes"].items())
    covered = (
        f", {genes['expression_fraction']:.1%} of the expression" if "expression_fraction" in genes else ""
    )
    print(
        f"Genes in the vocabulary: {genes['n_matched']:,} of {genes['n_genes']:,} ({routes}){covered}; "
        f"not matched: {genes['n_genes'] - genes['n_matched']:,}"
        + (f" (e.g. {', '.join(genes['unmatched_genes'][:5])})" if genes.get("unmatched_genes") else "")
        + "."
    )
    print(
        f"Embedded {adata.n_obs:,} cells into obsm[{args.key_added!r}] ({scgpt.config.d_model}-d, "
        f"{args.dtype}) in {seconds:.1f} s ({adata.n_obs / seconds:.1f} cells/s)."
    )
    _write_h5ad(adata, args.output)
    return 0


def pretrain(args: argparse.Namespace) -> int:
    from ...cli import _read_h5ad
    from .train import PretrainConfig
    from .train import pretrain as run

    adata = _read_h5ad(args.h5ad, backed=False)
    config = PretrainConfig(
        d_model=args.d_model, n_heads=args.heads, d_hid=args.d_hid, n_layers=args.layers,
        max_seq_len=args.max_length, n_top_genes=args.n_top_genes or None, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, gene_init=args.gene_init, seed=args.seed,
        threads=args.threads,
    )  # fmt: skip
    scgpt, log = run(adata, config=config, layer=args.layer, output=args.output)
    print(
        f"Pretrained scGPT ({scgpt.config.n_parameters / 1e6:.2f} M parameters, {len(scgpt.vocab.genes):,} "
        f"genes, gene tokens from {args.gene_init}) on {adata.n_obs:,} cells: {log.steps:,} steps in "
        f"{log.seconds / 60:.1f} min; loss {log.losses[0]:.3f} → {log.losses[-1]:.3f}."
    )
    print(f"Wrote {args.output} (fingerprint {scgpt.fingerprint[:16]})")
    return 0


def finetune(args: argparse.Namespace) -> int:
    from ...cli import _read_h5ad
    from .train import FinetuneConfig
    from .train import finetune as run

    adata = _read_h5ad(args.h5ad, backed=False)
    config = FinetuneConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads
    )
    scgpt, classes, log = run(
        args.checkpoint, adata, labels_key=args.labels, config=config, layer=args.layer, output=args.output
    )
    print(
        f"Fine-tuned on {adata.n_obs:,} cells, {len(classes)} classes ({', '.join(classes)}): "
        f"{log.steps:,} steps in {log.seconds / 60:.1f} min; loss {log.losses[0]:.3f} → {log.losses[-1]:.3f}."
    )
    print(f"Wrote {args.output} (fingerprint {scgpt.fingerprint[:16]})")
    return 0


def bench(args: argparse.Namespace) -> int:
    from ...bench.report import write_and_print
    from ...bench.scgpt import scgpt_benchmark
    from .train import FinetuneConfig, PretrainConfig

    results = scgpt_benchmark(
        seeds=tuple(range(args.seeds)),
        pretrain_config=PretrainConfig(epochs=args.epochs),
        finetune_config=FinetuneConfig(epochs=args.finetune_epochs),
        threads=args.threads,
    )
    write_and_print(args.output, scgpt=results)
    return 0
