from django import template

from capture.countries import COUNTRIES

register = template.Library()


@register.simple_tag
def field_value(values, field):
    """What to show in ``field``: the visitor's value (after a failed post) or ""."""
    value = values.get(field.name, "")
    if field.type in ("multiselect", "checkboxes"):
        return value if isinstance(value, list) else ([value] if value else [])
    return value


@register.simple_tag
def field_errors(errors, field):
    return errors.get(field.name, [])


@register.simple_tag
def field_choices(field):
    if field.type == "country":
        return [name for _code, name in COUNTRIES]
    return field.options
