"""One Keras registry (fastembed._registry) behind initializers, constraints and
regularizers: get / serialize / deserialize behave alike in the three modules."""
import ast
import json
import pathlib

import pytest

from fastembed import constraints, initializers, regularizers

MODULES = [(initializers, "glorot_uniform", initializers.GlorotUniform),
           (constraints, "max_norm", constraints.MaxNorm),
           (regularizers, "l2", regularizers.L2)]


@pytest.mark.parametrize("module, name, cls", MODULES)
def test_none_is_none_everywhere(module, name, cls):
    assert module.get(None) is None
    assert module.serialize(None) is None


@pytest.mark.parametrize("module, name, cls", MODULES)
def test_same_protocol(module, name, cls):
    obj = module.get(name)
    assert type(obj) is cls
    assert module.get(obj) is obj
    assert type(module.get(cls)) is cls
    data = json.loads(json.dumps(module.serialize(obj)))
    assert data["module"] == f"keras.{module.__name__.rsplit('.', 1)[1]}"
    assert data["class_name"] == cls.__name__ and data["registered_name"] is None
    again = module.deserialize(data)
    assert type(again) is cls and again.get_config() == obj.get_config()
    assert type(module.deserialize(name)) is cls
    with pytest.raises(ValueError, match="valid names"):
        module.get("no_such_name")
    with pytest.raises(ValueError, match="class_name"):
        module.get({"config": {}})
    with pytest.raises(ValueError, match="bad config"):
        module.get({"class_name": cls.__name__, "config": {"no_such_argument": 1}})
    with pytest.raises(TypeError, match="'config' must be a dict"):
        module.get({"class_name": cls.__name__, "config": [1]})
    for bad in (3, 2.5, [1], b"x"):
        with pytest.raises(TypeError):
            module.get(bad)
    with pytest.raises(TypeError, match="serialize needs"):
        module.serialize(name)


def test_a_subclass_serializes_under_its_own_module():
    class Mine(initializers.Zeros):
        pass

    data = initializers.serialize(Mine())
    assert data["module"] == __name__ and data["registered_name"] == "Mine"


def test_constraints_do_not_reach_into_initializers():
    src = (pathlib.Path(constraints.__file__)).read_text()
    imported = {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
    assert "fastembed.initializers" not in imported
