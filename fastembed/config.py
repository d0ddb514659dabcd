"""Layer configs in the shapes users bring them: fastembed's and Keras 3's ``get_config()``
dicts, Keras's ``{"class_name": "Embedding", "config": {...}}``, Polyaxon's
``{"Embedding": {...}}``, Keras 1 names, and JSON or YAML text of any of them.

Keys that change nothing for fastembed (``batch_input_shape``, ``batch_shape``,
``input_shape``, ``batch_size``, ``input_dtype``) are accepted and dropped; Keras features
fastembed does not implement (``lora_rank``, ``lora_alpha``, ``quantization_config``,
``sparse``) are accepted only at their "off" value; any other unknown key raises ValueError
naming it.
"""
import inspect
import json

__all__ = ["from_config", "layer_arguments", "register", "KERAS1_ALIASES"]

# Keras 1 argument names of the layer and their Keras 2/3 names.
KERAS1_ALIASES = {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                  "W_constraint": "embeddings_constraint"}
# The layer classes configs can name, filled by `register` (layer.py registers Embedding
# when it is imported): this module parses configs without importing any layer.
_CLASSES = {}

_IGNORED = ("batch_input_shape", "batch_shape", "input_shape", "batch_size", "input_dtype")
_OFF = {"lora_rank": None, "lora_alpha": None, "quantization_config": None, "sparse": False}
# Keys of Keras's {"class_name": ..., "config": ...} wrapper besides those two.
_WRAPPER_KEYS = ("module", "registered_name", "build_config", "compile_config")
# Keras 1 constraint parameters and their Keras 2/3 names.
_KERAS1_CONSTRAINT_PARAMS = {"m": "max_value", "low": "min_value", "high": "max_value"}


def register(cls):
    """Make the layer class `cls` buildable from configs naming it; returns `cls`."""
    _CLASSES[cls.__name__] = cls
    return cls


def _layer_keys(cls):
    params = inspect.signature(cls.__init__).parameters
    named = [p for p in params if p != "self" and params[p].kind != params[p].VAR_KEYWORD]
    return tuple(named) + tuple(KERAS1_ALIASES)


def _parse_text(text):
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError:
        raise ImportError("reading a YAML config needs PyYAML: pip install "
                          "'fastembed-kernels[yaml]' (or PyYAML); dicts and JSON text need "
                          "nothing") from None
    return yaml.safe_load(text)


def _split(config):
    """(class name or None, the layer's own config dict) of any accepted shape."""
    if isinstance(config, bytes):
        config = config.decode("utf-8")
    if isinstance(config, str):
        config = _parse_text(config)
    if not isinstance(config, dict):
        raise TypeError(f"a layer config is a dict or JSON/YAML text of one, got "
                        f"{type(config).__name__}")
    if "class_name" in config:  # Keras: {"class_name": ..., "config": {...}, "module": ...}
        extra = sorted(set(config) - {"class_name", "config", *_WRAPPER_KEYS})
        if extra:
            raise ValueError(f"unknown key(s) {extra} next to 'class_name' and 'config'")
        inner = config.get("config")
        if not isinstance(inner, dict):
            raise TypeError(f"the 'config' of a {config['class_name']!r} entry must be a dict, "
                            f"got {type(inner).__name__}")
        return config["class_name"], inner
    if len(config) == 1:  # Polyaxon: {"Embedding": {...}}
        (name, inner), = config.items()
        if name in _CLASSES or (isinstance(inner, dict) and name[:1].isupper()):
            if not isinstance(inner, dict):
                raise TypeError(f"the config of {name!r} must be a dict, got "
                                f"{type(inner).__name__}")
            return name, inner
    return None, config


def _keras1_constraint(value):
    """Keras 1's ``{"name": "MaxNorm", "m": 2, "axis": 0}`` in Keras 2/3's form."""
    if isinstance(value, dict) and "name" in value and "class_name" not in value:
        params = {_KERAS1_CONSTRAINT_PARAMS.get(k, k): v for k, v in value.items() if k != "name"}
        return {"class_name": value["name"], "config": params}
    return value


def _resolve(config, expected=None):
    """(layer class, constructor arguments) of `config`, checked key by key."""
    name, inner = _split(config)
    classes = _CLASSES
    if name is None:
        name = expected or "Embedding"
    if name not in classes:
        raise ValueError(f"unknown layer class {name!r}; fastembed builds {sorted(classes)}")
    if expected is not None and name != expected:
        raise ValueError(f"the config describes a {name}, not a {expected}")
    kwargs = dict(inner)
    for key in _IGNORED:
        kwargs.pop(key, None)
    for key, off in _OFF.items():
        if key in kwargs:
            value = kwargs.pop(key)
            if value != off:
                raise ValueError(f"{key}={value!r} is a Keras feature fastembed does not "
                                 f"implement (only {key}={off!r} is accepted)")
    valid = _layer_keys(classes[name])
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown {name} config key(s) {unknown}; valid keys: {sorted(valid)}, "
                         f"Keras's {sorted(_IGNORED)} (ignored) and {sorted(_OFF)} (only "
                         f"when off)")
    dtype = kwargs.get("dtype")
    if isinstance(dtype, dict):  # Keras 3's DTypePolicy: {"class_name": ..., "config": {"name"}}
        kwargs["dtype"] = (dtype.get("config") or {}).get("name")
    for key in ("embeddings_constraint", "W_constraint"):
        if key in kwargs:
            kwargs[key] = _keras1_constraint(kwargs[key])
    return classes[name], kwargs


def layer_arguments(config, expected=None):
    """The constructor arguments of the layer `config` describes (any accepted shape);
    a config of a class other than `expected` raises ValueError."""
    return _resolve(config, expected)[1]


def from_config(config):
    """A layer from its config, in any accepted shape.

    Parameters
    ----------
    config : dict, str or bytes
        ``layer.get_config()``; a Keras 3 ``keras.layers.Embedding(...).get_config()``;
        Keras's ``{"class_name": "Embedding", "config": {...}}``; Polyaxon's
        ``{"Embedding": {"input_dim": 1000, "output_dim": 32}}``; or JSON or YAML text of
        one of them (YAML needs PyYAML: ``pip install 'fastembed-kernels[yaml]'``).

    Returns
    -------
    Embedding

    Raises
    ------
    ValueError
        Unknown class or keys (named in the message), or a Keras feature fastembed does not
        implement.
    TypeError
        Not a dict or text.
    ImportError
        YAML text without PyYAML.
    """
    cls, kwargs = _resolve(config)
    return cls(**kwargs)
