"""The error every user-facing failure raises.

A `HwgenError` message says what is wrong, where (the Keras layer or the file), what is
supported and what to do. The CLI prints it without a traceback and exits with status 2.
"""


class HwgenError(Exception):
    """A problem with the user's input or options, with the fix in the message."""


class UnsupportedError(HwgenError):
    """The model uses a layer, quantizer or option hwgen cannot turn into exact hardware."""


class ModelFileError(HwgenError):
    """A model or weights file is missing, unreadable or inconsistent."""


def layer_error(layer: str, what: str, fix: str, cls=HwgenError) -> HwgenError:
    """Build the standard message: `layer 'name': what. fix`."""
    return cls(f"layer '{layer}': {what}. {fix}")


def first_line(exc: BaseException) -> str:
    """The first line of a library's exception message (its type name if it has none),
    for a message that names the cause without the library's traceback."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
