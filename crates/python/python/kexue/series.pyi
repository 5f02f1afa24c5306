"""Type stubs of kexue.series."""

from typing import Union

def decide(expr: str, start: int = 1) -> dict[str, Union[str, int, list[str]]]: ...
