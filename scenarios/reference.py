"""Render the reference of every scenario field from the schema (``docs/scenario-reference.md``).

``python3 -m flexcosim.scenarios.reference > docs/scenario-reference.md`` regenerates it; a test
checks the committed page is current, so the reference cannot drift from the code.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from flexcosim.scenarios import schema


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "mapping"
    if str(origin).endswith("Literal"):
        return " or ".join(repr(a) for a in get_args(annotation))
    names = [_type_name(a) for a in args if not isinstance(a, (str, int, float))]
    text = " or ".join(dict.fromkeys(n for n in names if n))
    return text + (" or null" if type(None) in get_args(annotation) else "")


def _constraints(field) -> str:
    parts = []
    for meta in field.metadata:
        for key, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "min length")):
            value = getattr(meta, key, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            stack = [field.annotation]
            while stack:
                a = stack.pop()
                if isinstance(a, type) and issubclass(a, BaseModel):
                    visit(a)
                else:
                    stack.extend(get_args(a))

    visit(schema.Scenario)
    return seen


def render_reference() -> str:
    lines = [
        "# Scenario reference",
        "",
        "Every field a scenario file may contain, generated from `scenarios/schema.py` by",
        "`python3 -m flexcosim.scenarios.reference`. Unknown fields are errors. Units are in the names",
        "and descriptions: kW, kWh, kWp, s, deg, per-unit.",
        "",
    ]
    for model in _models():
        doc = (model.__doc__ or "").strip().splitlines()[0]
        lines += [f"## {model.__name__}", "", doc, "",
                  "| field | type | required / default | allowed | description |",
                  "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            if field.is_required():
                default = "required"
            elif field.default is not PydanticUndefined:
                default = f"`{field.default!r}`"
            else:
                default = "empty"
            lines.append(
                f"| `{name}` | {_type_name(field.annotation)} | {default} | "
                f"{_constraints(field)} | {field.description or ''} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference())
