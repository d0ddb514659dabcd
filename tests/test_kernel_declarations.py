"""fastembed/_kernels.pxd is rendered from _kernels.pxd.in (setup.py): the template must
declare exactly the functions of the C contract, csrc/fastembed.h, in the header's order,
so that a kernel added to one is added to the other. fastembed.h declares its per-type
families through X-macros, so its names are read from the preprocessed header."""
import os
import pathlib
import re
import shutil
import subprocess
import sysconfig

import pytest

Tempita = pytest.importorskip("Cython.Tempita")

ROOT = pathlib.Path(__file__).resolve().parent.parent
CALL = re.compile(r"\b(fe_\w+)\s*\(")


def _compiler():
    for cc in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc"):
        if cc and shutil.which(cc.split()[0]):
            return cc.split()
    pytest.skip("no C compiler to preprocess fastembed.h")


def header_functions():
    """The fe_* functions fastembed.h declares, in order (after the preprocessor)."""
    out = subprocess.run(_compiler() + ["-E", "-P", str(ROOT / "csrc" / "fastembed.h")],
                         capture_output=True, text=True, check=True).stdout
    return CALL.findall(out[out.index("FE_OK"):])  # from the contract on, not <stdint.h>


def pxd_functions():
    """The fe_* functions the rendered template declares, in order."""
    template = (ROOT / "fastembed" / "_kernels.pxd.in").read_text()
    text = Tempita.Template(template, name="_kernels.pxd.in").substitute()
    return CALL.findall(re.sub(r"#[^\n]*", "", text))


def test_the_template_declares_the_header_in_its_order():
    header = header_functions()
    assert len(header) > 80 and "fe_lookup_bag_bf16_i64" in header  # the macros expanded
    assert pxd_functions() == header

