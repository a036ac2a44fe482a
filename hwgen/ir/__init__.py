"""The fixed-point IR: types, graph, reference interpreter, text dumps. Imports only numpy."""
