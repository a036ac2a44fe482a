"""Set each step function's hardware form from `--step-form` (`ops/step_function.py`):
"auto" searches the elements whose tree compares against `SEARCH_FROM` thresholds or
more, "tree" none, "search" every one. The form lives on the node (`search_from`), so the
schedule and the back end read the same.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph
from ..ir.rewrite import replacing, rewrite
from ..ops import StepFunction
from ..ops.step_function import NEVER_SEARCHED, SEARCH_FROM

SEARCH_FROM_BY_FORM = {"auto": SEARCH_FROM, "tree": NEVER_SEARCHED, "search": 1}


class ChooseStepForms:
    name = "choose-step-forms"

    def __init__(self, form: str = "auto"):
        if form not in SEARCH_FROM_BY_FORM:
            raise ValueError(f"step form {form!r}: one of {', '.join(SEARCH_FROM_BY_FORM)}")
        self.form = form

    def run(self, graph: Graph) -> Graph:
        search_from = SEARCH_FROM_BY_FORM[self.form]
        return rewrite(graph, replacing(StepFunction, lambda node, src: node
                                        if node.search_from == search_from else
                                        dataclasses.replace(node, search_from=search_from)))
