"""Fitted models that live in torch or numpy: ``scgpt`` (a pure-torch scGPT)."""
