"""Keras's object protocol, once: get / serialize / deserialize of initializers,
constraints and regularizers, and the get_config / from_config base they share.

A `Registry` knows one kind of object (its base class, the names a string or a serialized
dict may use, how a name becomes an instance). The three public modules each hold one and
expose its methods as their module-level ``get``, ``serialize`` and ``deserialize``:

- ``get(None)`` is None; a name gives a new instance; a dict, Keras's serialized form
  ``{"class_name": ..., "config": {...}}`` (``"module"`` and ``"registered_name"``
  ignored), the instance it describes; a class of the kind its defaults; an instance is
  returned as it is (and any callable, where the kind allows plain callables).
- ``serialize(None)`` is None; an instance gives Keras 3's form, JSON-serialisable, with
  ``module`` "keras.<kind>s" for fastembed's own classes.
- Errors follow the argument rule: unknown names and malformed dicts are ValueError (the
  message lists the valid names), anything of the wrong kind TypeError.
"""
import inspect

import numpy as np

__all__ = ["Configurable", "Registry", "plain"]


def plain(value):
    """NumPy scalars as Python ones, so that get_config() stays JSON-serialisable; ints stay
    ints (Keras keeps the arguments as given)."""
    return value.item() if isinstance(value, np.generic) else value


class Configurable:
    """Keras's config protocol: get_config() holds the constructor's arguments,
    from_config(cfg) calls the constructor with them."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Registry:
    """The names and (de)serialization of one kind of Keras object.

    Parameters
    ----------
    kind : str
        "initializer", "constraint" or "regularizer": the messages' word and the Keras
        module name (``keras.<kind>s``).
    base : type
        Every object of the kind is an instance of it.
    names : dict
        Name -> class (or factory function) a string or a dict's ``class_name`` may use.
    make : callable, optional
        ``make(factory, **kwargs)``: an instance from a name's factory (default
        ``factory()``); `get`'s keyword arguments are passed on.
    callables : bool
        Whether `get` returns any callable as it is (Keras's custom functions).
    keras1_dicts : bool
        Whether a dict may be Keras 1's ``{"name": ..., <parameters>}``.
    hint : str
        What `get` accepts, for its TypeError.
    """

    def __init__(self, kind, base, names, *, make=None, callables=True, keras1_dicts=False,
                 hint=None):
        self.kind, self.base, self.names = kind, base, names
        self.module = f"keras.{kind}s"
        self.make = make or (lambda factory, **_: factory())
        self.callables, self.keras1_dicts = callables, keras1_dicts
        self.hint = hint or f"pass a name, a dict, a{'n' if kind[0] in 'aeiou' else ''} " \
                            f"{base.__name__} or a callable"
        self._builtins = {f for f in names.values() if isinstance(f, type)}

    def lookup(self, name):
        """The class or factory `name` stands for; ValueError listing the valid names."""
        try:
            return self.names[name]
        except (KeyError, TypeError):
            valid = ", ".join(sorted(self.names))
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def deserialize(self, config):
        """An instance from a name or a serialized dict."""
        if isinstance(config, str):
            return self.make(self.lookup(config))
        if not isinstance(config, dict):
            raise TypeError(f"a serialized {self.kind} is a name or a dict, got "
                            f"{type(config).__name__}")
        if "class_name" in config:
            name, params = config["class_name"], config.get("config") or {}
        elif self.keras1_dicts and "name" in config:  # Keras 1: parameters beside the name
            name, params = config["name"], {k: v for k, v in config.items() if k != "name"}
        else:
            raise ValueError(f"a {self.kind} dict needs a 'class_name' key (Keras's serialized "
                             f"form), got keys {sorted(config)}")
        factory = self.lookup(name)
        if not isinstance(params, dict):
            raise TypeError(f"a {self.kind} dict's 'config' must be a dict, got "
                            f"{type(params).__name__}")
        try:
            inspect.signature(factory).bind(**params)
        except TypeError as exc:
            raise ValueError(f"bad config for {self.kind} {name!r}: {params} ({exc})") from None
        from_config = getattr(factory, "from_config", None)
        return from_config(dict(params)) if from_config else factory(**params)

    def get(self, identifier, **kwargs):
        """None, an instance, or a new instance from a name, a dict or a class."""
        if identifier is None:
            return None
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            return self.make(self.lookup(identifier), **kwargs)
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return self.make(identifier, **kwargs)  # a class: its defaults, as Keras does
        if self.callables and callable(identifier):
            return identifier
        raise TypeError(f"cannot interpret {type(identifier).__name__} {identifier!r} as "
                        f"a{'n' if self.kind[0] in 'aeiou' else ''} {self.kind}: {self.hint}")

    def serialize(self, obj):
        """Keras 3's serialized form of `obj` (JSON-serialisable), None for None."""
        if obj is None:
            return None
        if not isinstance(obj, self.base):
            raise TypeError(f"serialize needs a fastembed {self.base.__name__}, got "
                            f"{type(obj).__name__}")
        cls = type(obj)
        builtin = cls in self._builtins
        return {"module": self.module if builtin else cls.__module__,
                "class_name": cls.__name__, "config": obj.get_config(),
                "registered_name": None if builtin else cls.__name__}
