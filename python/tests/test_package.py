"""The package's surface: names, stubs and markers agree with the native module."""

from __future__ import annotations

import ast
import pathlib

import imei_index
from imei_index import _native


def test_stubs_describe_the_native_module():
    stub = pathlib.Path(_native.__file__).with_name("_native.pyi")
    assert stub.exists(), "the stubs are installed beside the module"
    assert stub.with_name("py.typed").exists()
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed |= {
        t.target.id for t in tree.body if isinstance(t, ast.AnnAssign) and isinstance(t.target, ast.Name)
    }
    public = {n for n in dir(_native) if not n.startswith("__") or n == "__version__"}
    assert public - stubbed == set(), "native names without stubs"
    assert stubbed - public == set(), "stubs of names the module lacks"
    for cls in ("Index", "LiveIndex", "Verdict"):
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        native = {m for m in dir(getattr(_native, cls)) if not m.startswith("_")}
        assert native <= methods, f"{cls}: {native - methods} not stubbed"


def test_names_of_the_product():
    for name in ["Index", "LiveIndex", "build", "scan", "InvalidImei", "Verdict", "check_digit"]:
        assert hasattr(imei_index, name)
    assert issubclass(imei_index.InvalidImei, ValueError)
    assert issubclass(imei_index.InvalidImsi, ValueError)
    assert issubclass(imei_index.InvalidList, ValueError)
    assert issubclass(imei_index.InvalidIndex, imei_index.Error)
    assert imei_index.__version__.count(".") == 2
    for obj in [imei_index.Index, imei_index.Index.check_many, imei_index.build, imei_index.scan]:
        assert obj.__doc__ and len(obj.__doc__) > 40
