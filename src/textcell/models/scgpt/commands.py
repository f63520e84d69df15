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
    print(
        f"Genes in the vocabulary: {genes['n_matched']:,} of {genes['n_genes']:,} ({routes}); "
        f"not matched: {genes['n_genes'] - genes['n_matched']:,}."
    )
    print(
        f"Embedded {adata.n_obs:,} cells into obsm[{args.key_added!r}] ({scgpt.config.d_model}-d, "
        f"{args.dtype}) in {seconds:.1f} s ({adata.n_obs / seconds:.1f} cells/s)."
    )
    _write_h5ad(adata, args.output)
    return 0
