"""Merge fields in marketer-written emails: a sandboxed Django template language.

A step's subject, preheader and body may use ``{{ first_name|default:"there" }}`` and
``{% if company %}…{% endif %}``, nothing else. The sandbox is a separate template
``Engine`` whose only library is this module:

- no default tags or filters at all (so ``{% load %}``, ``{% include %}``,
  ``{% extends %}``, ``{% url %}``, ``{% csrf_token %}``, ``{% debug %}`` … are unknown
  tags and the template does not compile);
- a few string filters (``default``, ``upper``, ``lower``, ``title``, ``capfirst``);
- the context is a dict of plain strings (``MERGE_FIELDS``), never a model;
- ``template_problems`` walks the compiled template and refuses any name outside
  ``MERGE_FIELDS`` and any attribute/method/index access (``{{ first_name.upper }}``,
  ``{{ settings.SECRET_KEY }}``), so a step is rejected when saved, with the reason,
  rather than rendering something surprising later.
"""

import re
from functools import cache

from django import template
from django.template import Context, Engine, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, TextNode, Variable, VariableNode

MERGE_FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "company",
    "job_title",
    "country",
    "industry",
    "website",
)

register = template.Library()
for _name in ("default", "upper", "lower", "title", "capfirst"):
    register.filter(_name, getattr(defaultfilters, _name), is_safe=False)
register.tag("if", defaulttags.do_if)


class _SandboxEngine(Engine):
    default_builtins: list[str] = []


@cache
def engine(autoescape: bool) -> Engine:
    """Two engines: HTML-escaping (for the HTML body) and plain (subject, text part)."""
    return _SandboxEngine(builtins=["nurture.merge"], libraries={}, autoescape=autoescape,
                          string_if_invalid="")


def _expression_problems(expression: FilterExpression) -> list[str]:
    problems = []
    values = [(True, expression.var)]
    for _func, args in expression.filters:
        values.extend(args)
    for _is_lookup, value in values:
        if not isinstance(value, Variable) or value.lookups is None:
            continue  # a literal: "there", 3
        name = value.var
        if len(value.lookups) > 1:
            problems.append(
                f"“{name}”: merge fields are plain text; attributes and methods "
                "(the part after the dot) are not available."
            )
        elif value.lookups[0] not in MERGE_FIELDS:
            problems.append(
                f"“{name}” is not a merge field. Use one of: {', '.join(MERGE_FIELDS)}."
            )
    return problems


def _condition_problems(condition) -> list[str]:
    if condition is None:
        return []
    if isinstance(condition, defaulttags.TemplateLiteral):
        return _expression_problems(condition.value)
    return _condition_problems(condition.first) + _condition_problems(condition.second)


def _node_problems(nodelist) -> list[str]:
    problems: list[str] = []
    for node in nodelist:
        if isinstance(node, TextNode):
            continue
        if isinstance(node, VariableNode):
            problems.extend(_expression_problems(node.filter_expression))
        elif isinstance(node, defaulttags.IfNode):
            for condition, branch in node.conditions_nodelists:
                problems.extend(_condition_problems(condition))
                problems.extend(_node_problems(branch))
        else:  # pragma: no cover - only the tags registered above compile
            problems.append(f"“{type(node).__name__}” is not allowed in emails.")
    return problems


def template_problems(source: str) -> list[str]:
    """Why ``source`` is not a valid email template (empty list: it is)."""
    try:
        compiled = engine(False).from_string(source)
    except TemplateSyntaxError as exc:
        return [_syntax_message(exc)]
    return list(dict.fromkeys(_node_problems(compiled.nodelist)))


def _syntax_message(exc: TemplateSyntaxError) -> str:
    text = str(exc)
    if match := re.match(r"Invalid block tag on line (\d+): '([^']*)'", text):
        return (f"Line {match[1]}: the tag “{{% {match[2]} %}}” is not allowed in emails; "
                "only {{ field }}, the filters default, upper, lower, title and capfirst, "
                "and {% if %} are.")
    return text


def merge_context(lead) -> dict[str, str]:
    """The lead's merge values, as plain strings (never the model)."""
    values = {name: str(getattr(lead, name, "") or "") for name in MERGE_FIELDS
              if name != "full_name"}
    values["full_name"] = f"{values['first_name']} {values['last_name']}".strip()
    return values


class Compiled:
    """A validated template, compiled once and rendered for many leads."""

    def __init__(self, source: str, *, autoescape: bool):
        problems = template_problems(source)
        if problems:
            raise ValueError("; ".join(problems))
        self._template = engine(autoescape).from_string(source)
        self._autoescape = autoescape

    @property
    def nodelist(self):
        return self._template.nodelist

    def render(self, values: dict[str, str]) -> str:
        return self._template.render(Context(values, autoescape=self._autoescape))
