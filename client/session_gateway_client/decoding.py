"""JSON answers to the typed models of `session_gateway_client.models`, checked against the models' type hints.

Every member a model declares must be present (unless it has a default) and of its declared type; members the
model does not know are passed over, so a newer gateway that adds fields does not break an older client.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any, TypeVar, cast

from session_gateway_client.errors import UnexpectedAnswer

T = TypeVar("T")
# A model member whose JSON name is not a Python name (`from`) says so in its field metadata.
JSON_NAME = "json"


def json_name(item: dataclasses.Field[Any]) -> str:
    return str(item.metadata.get(JSON_NAME, item.name))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(cls: type[T], data: object, where: str = "") -> T:
    """`data` (parsed JSON) as an instance of the dataclass `cls`; UnexpectedAnswer naming the member at fault."""
    if not isinstance(data, dict):
        raise UnexpectedAnswer(f"{where or cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(cast(Any, cls))
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cast(Any, cls)):
        name = json_name(item)
        if name not in data:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise UnexpectedAnswer(f"{where}{name}: missing from the answer")
            continue
        values[item.name] = _value(hints[item.name], data[name], f"{where}{name}")
    return cls(**values)


def _value(hint: Any, value: object, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        failures = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _value(option, value, where)
            except UnexpectedAnswer as exc:
                failures.append(str(exc))
        raise UnexpectedAnswer("; ".join(failures) or f"{where}: null is not allowed")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise UnexpectedAnswer(f"{where}: {value!r} is none of {typing.get_args(hint)}")
        return value
    if origin is tuple:
        item_hint = typing.get_args(hint)[0]
        items = _expect(list, value, where)
        return tuple(_value(item_hint, item, f"{where}[{index}]") for index, item in enumerate(items))
    if origin is dict:
        value_hint = typing.get_args(hint)[1]
        mapping = _expect(dict, value, where)
        return {str(key): _value(value_hint, item, f"{where}.{key}") for key, item in mapping.items()}
    if hint is datetime:
        text = _expect(str, value, where)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise UnexpectedAnswer(f"{where}: {text!r} is not an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise UnexpectedAnswer(f"{where}: {text!r} has no time zone")
        return moment
    if dataclasses.is_dataclass(hint):
        return decode(cast(type, hint), value, f"{where}.")
    if hint is int:
        # bool is an int to Python, not to JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise UnexpectedAnswer(f"{where}: expected an integer, got {value!r}")
        return value
    if hint in (str, bool):
        return _expect(hint, value, where)
    raise TypeError(f"no decoding for {hint!r} ({where})")


def _expect(kind: type[T], value: object, where: str) -> T:
    if not isinstance(value, kind):
        raise UnexpectedAnswer(f"{where}: expected {kind.__name__}, got {type(value).__name__}")
    return value
