"""Stripe's shapes, as the contract tests read them.

Two references, both published by Stripe and neither written here:

- **Objects**: `stripe_fixtures/fixtures3.json`, Stripe's example object per resource (see its
  README). An object must carry every field of its resource's example with a compatible JSON
  type. Where the example shows ``null`` any value is allowed that stripe-python's generated type
  for the field accepts. A ``null`` where the example has a value is allowed only where
  stripe-python types the field ``Optional`` (generated from the same OpenAPI description:
  ``Optional`` marks the fields Stripe documents as nullable). A field the example does not show is
  allowed only if stripe-python's class for that object declares it (no invented fields).
- **Requests**: stripe-python's typed parameters (``stripe.params.<Resource><Op>Params``
  TypedDicts) for the service method that sends the request: every sent parameter must be
  declared, of the declared type once form-encoded, and every required one present.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import types
import typing
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

import stripe
import stripe.params
import typing_extensions
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

FIXTURES_PATH = Path(__file__).parent / "stripe_fixtures" / "fixtures3.json"


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(FIXTURES_PATH.read_text())["resources"]
    return resources


def fixture(object_type: str) -> dict[str, Any]:
    """A deep copy of Stripe's example object of a type."""
    return json.loads(json.dumps(fixtures()[object_type]))


# --- resolving stripe-python's annotations ---------------------------------------------------


class _Unknown:
    """An annotation this module cannot resolve: any JSON value is accepted for it."""


class _Names(dict[str, Any]):
    """Names in stripe-python's annotations: the annotating module's, typing's, then stripe's
    and stripe.params' (both import lazily, so a lookup, not a listing)."""

    def __init__(self, module_name: str) -> None:
        super().__init__(vars(typing))
        self.update(UntypedStripeObject=UntypedStripeObject, ListObject=ListObject)
        module = sys.modules.get(module_name)
        if module is not None:
            self.update(vars(module))

    def __missing__(self, name: str) -> Any:
        # `CardResource`, `IssuingDisputeResource`: stripe-python's aliases of its classes.
        short = name.removesuffix("Resource")
        for namespace, candidate in (
            (stripe, name),
            (stripe.params, name),
            (stripe, short),
            (stripe.issuing, short.removeprefix("Issuing")),
        ):
            try:
                return getattr(namespace, candidate)
            except AttributeError:
                continue
        raise KeyError(name)  # then Python's builtins; a NameError if not one either


@cache
def _names(module_name: str) -> _Names:
    return _Names(module_name)


def _resolve(hint: Any, module_name: str) -> Any:
    if isinstance(hint, str):
        hint = ForwardRef(hint)
    if isinstance(hint, ForwardRef):
        try:
            # The names as locals: a mapping's __missing__ is consulted for those.
            return eval(hint.__forward_arg__, {}, _names(module_name))  # noqa: S307
        except NameError:
            return _Unknown
    return hint


def _unwrap(hint: Any, module_name: str) -> Any:
    """Forward references resolved, NotRequired/Required stripped."""
    hint = _resolve(hint, module_name)
    while get_origin(hint) in (typing.NotRequired, typing.Required):
        hint = _resolve(get_args(hint)[0], module_name)
    return hint


def _union_args(hint: Any) -> tuple[Any, ...] | None:
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return None


def _own_annotations(cls: type) -> dict[str, Any]:
    annotations: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}))
    return annotations


def object_class(object_type: str) -> type | None:
    entry = OBJECT_CLASSES.get(object_type)
    if entry is None:
        return None
    module, name = entry
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


# --- objects -------------------------------------------------------------------------------


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str | Decimal):  # stripe-python reads decimal strings as Decimal
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _hint_kinds(hint: Any, module_name: str) -> set[str] | None:
    """The JSON kinds a stripe-python annotation accepts (None: anything)."""
    hint = _unwrap(hint, module_name)
    if hint is _Unknown or hint is Any:
        return None
    args = _union_args(hint)
    if args is not None:
        kinds: set[str] = set()
        for arg in args:
            sub = _hint_kinds(arg, module_name)
            if sub is None:
                return None
            kinds |= sub
        return kinds
    if hint is type(None):
        return {"null"}
    origin = get_origin(hint) or hint
    if origin is Literal:
        return {_json_kind(value) for value in get_args(hint)}
    if origin is bool:
        return {"boolean"}
    if origin in (int, float):
        return {"number"}
    if origin is str:
        return {"string"}
    if origin in (list, typing.List):  # noqa: UP006
        return {"array"}
    if origin in (dict, typing.Dict) or (  # noqa: UP006
        isinstance(origin, type) and issubclass(origin, StripeObject | dict)
    ):
        return {"object"}
    return None


def _nullable(hint: Any, module_name: str) -> bool:
    hint = _unwrap(hint, module_name)
    args = _union_args(hint)
    return args is not None and type(None) in args


def _nested_class(hint: Any, module_name: str) -> type | None:
    """The StripeObject class a (possibly Optional) annotation names, for nested objects."""
    hint = _unwrap(hint, module_name)
    args = _union_args(hint)
    candidates = [a for a in args if a is not type(None)] if args is not None else [hint]
    classes = []
    for candidate in candidates:
        candidate = _unwrap(candidate, module_name)
        origin = get_origin(candidate) or candidate
        if isinstance(origin, type) and issubclass(origin, StripeObject):
            classes.append(origin)
    if len(classes) == 1 and classes[0] not in (UntypedStripeObject, ListObject):
        return classes[0]
    return None


def _is_free_dict(hint: Any, module_name: str) -> bool:
    """metadata and friends: a string map with keys of the caller's choosing."""
    hint = _unwrap(hint, module_name)
    args = _union_args(hint)
    candidates = [a for a in args if a is not type(None)] if args is not None else [hint]
    for candidate in candidates:
        origin = get_origin(_unwrap(candidate, module_name)) or candidate
        if origin in (UntypedStripeObject, dict, typing.Dict):  # noqa: UP006
            return True
    return False


def shape_errors(obj: dict[str, Any], object_type: str | None = None, path: str = "") -> list[str]:
    """How `obj` differs from Stripe's example object of its type (empty when it does not)."""
    object_type = object_type or obj.get("object")
    path = path or str(object_type)
    if object_type == "list":
        return _list_errors(obj, None, path)
    if object_type not in fixtures():
        return [f"{path}: no Stripe resource is called {object_type!r}"]
    return _object_errors(obj, fixtures()[object_type], object_class(object_type), path)


def _list_errors(obj: dict[str, Any], example: dict[str, Any] | None, path: str) -> list[str]:
    errors = [
        f"{path}.{key}: missing from a list object"
        for key in ("object", "data", "has_more", "url")
        if key not in obj
    ]
    items = obj.get("data")
    if not isinstance(items, list):
        return [*errors, f"{path}.data: not an array"]
    item_example = (example or {}).get("data") or [None]
    for i, item in enumerate(items):
        errors += _item_errors(item, item_example[0], None, f"{path}.data[{i}]")
    return errors


def _item_errors(value: Any, example: Any, cls: type | None, path: str) -> list[str]:
    kind = value.get("object") if isinstance(value, dict) else None
    example_kind = example.get("object") if isinstance(example, dict) else None
    if isinstance(kind, str) and kind in fixtures() and kind != example_kind:
        # Another type than the example shows here (an event's object, a polymorphic field):
        # checked against Stripe's example of its own type.
        return shape_errors(value, kind, path)
    if isinstance(kind, str) and kind in fixtures() and cls is None:
        cls = object_class(kind)
    if kind == "list":
        return _list_errors(value, example if isinstance(example, dict) else None, path)
    if isinstance(value, dict) and isinstance(example, dict):
        return _object_errors(value, example, cls, path)
    if isinstance(value, dict) and example is None and cls is not None:
        return _object_errors(value, {}, cls, path)  # no example: stripe-python's fields
    if example is not None and _json_kind(value) != _json_kind(example):
        return [f"{path}: {_json_kind(value)}, Stripe sends {_json_kind(example)}"]
    return []


def _object_errors(
    obj: dict[str, Any], example: dict[str, Any], cls: type | None, path: str
) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{path}: {_json_kind(obj)}, Stripe sends an object"]
    annotations = _own_annotations(cls) if cls is not None else {}
    module_name = cls.__module__ if cls is not None else "stripe"
    errors: list[str] = []
    for key, expected in example.items():
        where = f"{path}.{key}"
        if key not in obj:
            errors.append(f"{where}: missing (Stripe's example has {_json_kind(expected)})")
            continue
        errors += _value_errors(obj[key], expected, annotations.get(key), module_name, where)
    if cls is not None:
        for key in sorted(obj.keys() - example.keys()):
            if key not in annotations:
                errors.append(f"{path}.{key}: not a field of Stripe's {cls.__name__}")
            else:
                errors += _value_errors(
                    obj[key], None, annotations[key], module_name, f"{path}.{key}"
                )
    return errors


def _value_errors(value: Any, expected: Any, hint: Any, module_name: str, where: str) -> list[str]:
    kind, expected_kind = _json_kind(value), _json_kind(expected)
    if value is None:
        if expected is None or (hint is not None and _nullable(hint, module_name)):
            return []
        return [f"{where}: null, Stripe sends {expected_kind} and does not document null"]
    allowed = _hint_kinds(hint, module_name) if hint is not None else None
    if allowed is not None and kind not in allowed:
        return [f"{where}: {kind}, stripe-python types it {sorted(allowed - {'null'})}"]
    if expected is None:
        if isinstance(value, dict) and hint is not None and not _is_free_dict(hint, module_name):
            return _item_errors(value, None, _nested_class(hint, module_name), where)
        return []
    expandable = allowed is not None and {"string", "object"} <= allowed
    if kind == "string" and expandable:
        return []  # an expandable field, not expanded: the object's id
    if kind != expected_kind and not (expandable and {kind, expected_kind} == {"string", "object"}):
        return [f"{where}: {kind}, Stripe sends {expected_kind}"]
    if kind == "object" and expected_kind == "string":  # expanded where the example has the id
        return _item_errors(value, None, _nested_class(hint, module_name), where)
    if kind == "object" and expected_kind == "object":
        if isinstance(value.get("object"), str) and value["object"] in fixtures():
            return _item_errors(value, expected, _nested_class(hint, module_name), where)
        if hint is not None and _is_free_dict(hint, module_name):
            return [
                f"{where}.{k}: not a string" for k, v in value.items() if not isinstance(v, str)
            ]
        nested = _nested_class(hint, module_name) if hint is not None else None
        if expected.get("object") == "list":
            return _list_errors(value, expected, where)
        if set(expected) == {"id", "object"} and expandable:
            # The example's stub of an expandable field; expanded, the object is checked whole.
            return [] if value == expected else shape_errors(value, expected["object"], where)
        return _item_errors(value, expected, nested, where)
    if kind == "array":
        item_hint = None
        hint_args = get_args(_unwrap(hint, module_name)) if hint is not None else ()
        for arg in hint_args:
            if get_origin(_unwrap(arg, module_name)) in (list, typing.List):  # noqa: UP006
                item_hint = get_args(_unwrap(arg, module_name))[0]
        if get_origin(_unwrap(hint, module_name)) in (list, typing.List):  # noqa: UP006
            item_hint = get_args(_unwrap(hint, module_name))[0]
        item_cls = _nested_class(item_hint, module_name) if item_hint is not None else None
        errors: list[str] = []
        for i, item in enumerate(value):
            errors += _item_errors(
                item, expected[0] if expected else None, item_cls, f"{where}[{i}]"
            )
        return errors
    return []


# --- requests ------------------------------------------------------------------------------


def params_class(service_method: Any) -> Any:
    """The TypedDict stripe-python declares for a service method's `params`."""
    hint = service_method.__annotations__["params"]
    module_name = service_method.__module__
    hint = _unwrap(hint, module_name)
    args = _union_args(hint)
    if args is not None:
        (hint,) = [a for a in args if a is not type(None)]
    return _unwrap(hint, module_name)


_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


def params_errors(sent: Any, hint: Any, path: str = "params") -> list[str]:
    """How form-decoded parameters (strings, dicts, lists) break stripe-python's types."""
    module_name = getattr(hint, "__module__", "stripe.params")
    hint = _unwrap(hint, module_name)
    if hint is _Unknown:
        return [f"{path}: stripe-python's type for it could not be read"]
    if hint is Any:
        return []
    args = _union_args(hint)
    if args is not None:
        arms = [_unwrap(arg, module_name) for arg in args if arg is not type(None)]
        if any(get_origin(arm) is Literal for arm in arms):
            # `Literal[...]|str`: stripe-python's room for values added later; the documented
            # values are the Literal's, and a value outside them is a typo here.
            arms = [arm for arm in arms if arm is not str]
        attempts = [params_errors(sent, arm, path) for arm in arms]
        if any(not a for a in attempts):
            return []
        if all(e.startswith(f"{path}: ") for a in attempts for e in a):
            return [f"{path}: {sent!r} fits none of {' | '.join(map(_describe, arms))}"]
        return min(attempts, key=len)
    origin = get_origin(hint) or hint
    if typing_extensions.is_typeddict(hint):
        if not isinstance(sent, dict):
            return [f"{path}: {_json_kind(sent)}, expected the fields of {hint.__name__}"]
        annotations = hint.__annotations__
        errors = [f"{path}.{key}: required by {hint.__name__}, not sent"
                  for key in sorted(hint.__required_keys__ - sent.keys())]  # fmt: skip
        for key, value in sent.items():
            if key not in annotations:
                errors.append(f"{path}.{key}: not a parameter of {hint.__name__}")
                continue
            errors += params_errors(
                value, _bind(annotations[key], hint.__module__), f"{path}.{key}"
            )
        return errors
    if origin is Literal:
        allowed = {_form_value(v) for v in get_args(hint)}
        ok = isinstance(sent, str) and sent in allowed
        return [] if ok else [f"{path}: {sent!r} is none of {sorted(allowed)}"]
    if origin is str:
        return [] if isinstance(sent, str) else [f"{path}: {_json_kind(sent)}, expected string"]
    if origin is bool:
        return [] if sent in {"true", "false"} else [f"{path}: {sent!r} is not a boolean"]
    if origin is int:
        ok = isinstance(sent, str) and _INTEGER.fullmatch(sent)
        return [] if ok else [f"{path}: {sent!r} is not an integer"]
    if origin is float:
        ok = isinstance(sent, str) and _NUMBER.fullmatch(sent)
        return [] if ok else [f"{path}: {sent!r} is not a number"]
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(sent, list):
            return [f"{path}: {_json_kind(sent)}, expected an array"]
        (item,) = get_args(hint)
        errors = []
        for i, value in enumerate(sent):
            errors += params_errors(value, _bind(item, module_name), f"{path}[{i}]")
        return errors
    if origin in (dict, typing.Dict, UntypedStripeObject):  # noqa: UP006
        if not isinstance(sent, dict):
            return [f"{path}: {_json_kind(sent)}, expected an object"]
        value_hint = get_args(hint)[-1] if get_args(hint) else Any
        errors = []
        for key, value in sent.items():
            errors += params_errors(value, _bind(value_hint, module_name), f"{path}.{key}")
        return errors
    return [f"{path}: stripe-python's type {hint!r} is not one this check knows"]


def _bind(hint: Any, module_name: str) -> Any:
    resolved = _unwrap(hint, module_name)
    if isinstance(resolved, type) or resolved is _Unknown:
        return resolved
    # Generic aliases keep forward references in their arguments: resolve them now.
    args = get_args(resolved)
    origin = get_origin(resolved)
    if origin is None or not args or origin is Literal:
        return resolved
    bound = tuple(_bind(a, module_name) for a in args)
    if origin in (Union, types.UnionType):
        return Union[bound]  # noqa: UP007
    if origin in (list, typing.List):  # noqa: UP006
        return list[bound[0]]  # type: ignore[valid-type]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return dict[bound[0], bound[1]]  # type: ignore[valid-type]
    if origin is UntypedStripeObject:
        return dict[str, bound[-1]]  # type: ignore[valid-type]
    return resolved


def _describe(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return f"one of {sorted(_form_value(v) for v in get_args(hint))}"
    return getattr(hint, "__name__", None) or str(hint)


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
