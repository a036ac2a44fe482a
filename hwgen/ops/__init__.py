"""The IR's ops, one file each (node class and every rule about it; `base.py` lists the
rules and keeps the registry). Importing this package registers them all."""
from .add import Add
from .average import Average
from .base import REGISTRY, RULES, Node, register
from .concatenate import Concatenate
from .conv import Conv
from .dense import Dense
from .extremum import Extremum
from .gather import Gather
from .input import Input
from .linear_sum import LinearSum
from .linear_sum_folded import FoldedLinearSum
from .max_pool import MaxPool
from .multiply import Multiply
from .quantize import Quantize
from .relu import Relu
from .reshape import Reshape
from .scale_shift import ScaleShift
from .step_function import StepFunction

__all__ = ["REGISTRY", "RULES", "Node", "register", "Add", "Average", "Concatenate", "Conv",
           "Dense", "Extremum", "FoldedLinearSum", "Gather", "MaxPool", "Multiply", "Input",
           "LinearSum",
           "Quantize", "Relu", "Reshape", "ScaleShift", "StepFunction"]
