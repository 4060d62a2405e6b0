"""Request parsing shared by the native and OpenAI-compatible views (OpenAI-shaped 400s)."""

from __future__ import annotations

from convostore.errors import ValidationFailed

from convostore import canonical


def body_object(request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.", code="invalid_type")
    for key, value in data.items():
        canonical.check_text(key, None)
        if isinstance(value, list) and key in ("items", "input", "output"):
            for index, element in enumerate(value):
                canonical.check_text(element, f"{key}[{index}]")
        else:
            canonical.check_text(value, key)
    return data


def optional_int(data: dict, name: str, *, minimum: int = 0, maximum: int | None = None):
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise ValidationFailed(f"'{name}' must be an integer of at least {minimum}{bound}.", param=name, code="invalid_type")
    return value


def optional_str(data: dict, name: str, *, max_length: int = 200):
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ValidationFailed(f"'{name}' must be a string of at most {max_length} characters.", param=name, code="invalid_type")
    return value


def metadata(data: dict, name: str = "metadata"):
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed("'metadata' must be an object of string values.", param=name, code="invalid_type")
    if len(value) > 16:
        raise ValidationFailed("'metadata' may hold at most 16 keys.", param=name, code="invalid_value")
    for key, item in value.items():
        if len(key) > 64:
            raise ValidationFailed("Metadata keys are at most 64 characters.", param=f"{name}.{key[:64]}", code="invalid_value")
        if not isinstance(item, str) or len(item) > 512:
            raise ValidationFailed("Metadata values are strings of at most 512 characters.", param=f"{name}.{key}", code="invalid_value")
    return value


def idempotency_key(request) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 255 or not value.isprintable():
        raise ValidationFailed("Idempotency-Key must be 1–255 printable characters.", param="Idempotency-Key", code="invalid_value")
    return value


def query_int(request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"'{name}' must be an integer.", param=name, code="invalid_type") from None
    if not minimum <= value <= maximum:
        raise ValidationFailed(f"'{name}' must be between {minimum} and {maximum}.", param=name, code="invalid_value")
    return value


def query_order(request, *, default: str) -> str:
    value = request.query_params.get("order") or default
    if value not in ("asc", "desc"):
        raise ValidationFailed("'order' must be 'asc' or 'desc'.", param="order", code="invalid_value")
    return value
