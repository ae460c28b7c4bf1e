# Pony ships no types. This partial stub types what the services decorate and call, so a
# function under @db_session keeps its signature for its callers; the rest stays Any.
from collections.abc import Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

class DBSessionContextManager:
    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]: ...
    def __enter__(self) -> None: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

db_session: DBSessionContextManager

def commit() -> None: ...
def flush() -> None: ...
def rollback() -> None: ...
def __getattr__(name: str) -> Any: ...
