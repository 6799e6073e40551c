"""The committed notebooks are the report's source: thin, output-free, parameterised, valid.

They are edited directly (JupyterLab) and committed without outputs, so a diff shows code, not
results; papermill injects its values after the cell tagged ``parameters``, which must come first;
functions and classes belong in ``credit_lab`` (tested, importable), never in a cell.
"""

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6, f"expected the six stage notebooks in notebooks/, found {[p.name for p in NOTEBOOKS]}"


def test_notebook_is_valid_nbformat(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate cell ids"


def test_notebook_has_no_outputs(notebook):
    path, nb = notebook
    dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing"


def test_first_code_cell_is_tagged_parameters(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), \
        f"{path.name}: the first code cell must carry the tag 'parameters' (papermill injects after it)"
    tagged = [c.id for c in code[1:] if "parameters" in c.metadata.get("tags", [])]
    assert not tagged, f"{path.name}: only the first code cell may be tagged 'parameters', not {tagged}"


def test_no_function_or_class_in_cells(notebook):
    path, nb = notebook
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.append(f"{cell.id}: {node.name}")
    assert not found, f"{path.name}: move these into credit_lab (report/ for display helpers): {found}"
