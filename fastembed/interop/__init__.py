"""Adapters for other frameworks. Each submodule imports its framework when it is itself
imported (``import fastembed.interop.torch``), never before: fastembed needs neither."""
