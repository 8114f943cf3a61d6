"""Frozen input values: Deployment, Request, Features (the records are in `router._records`).

Nothing here does I/O. Every value is immutable and rejects unknown fields.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

__all__ = [
    "CAPABILITIES",
    "IMAGE_TOKENS",
    "SENSITIVITY_LEVELS",
    "UNSCANNABLE_KINDS",
    "Capability",
    "CostModel",
    "Deployment",
    "Detection",
    "DetectorKind",
    "Features",
    "Hosting",
    "Message",
    "Request",
    "Sensitivity",
    "Unscannable",
    "UnscannableKind",
    "Weights",
    "sensitivity_rank",
]

Hosting = Literal["local", "self-hosted", "api"]
Weights = Literal["open", "closed"]
Capability = Literal["tools", "vision", "json", "json_schema", "long_context"]
CAPABILITIES: tuple[Capability, ...] = ("tools", "vision", "json", "json_schema", "long_context")
Sensitivity = Literal["public", "internal", "confidential", "restricted"]
SENSITIVITY_LEVELS: tuple[Sensitivity, ...] = ("public", "internal", "confidential", "restricted")
DetectorKind = Literal[
    "email", "phone", "payment_card", "iban", "national_id", "api_key", "private_key"
]
UnscannableKind = Literal["image", "audio", "file", "part"]
"""Content the detectors cannot read: an image, audio, a binary file (a PDF, an office
document), or a content part of a type the router does not know."""

UNSCANNABLE_KINDS: tuple[UnscannableKind, ...] = get_args(UnscannableKind)

IMAGE_TOKENS = 2_500
"""Tokens one image is counted at in a request's prompt figures: the most it costs under
OpenAI's tile rule (gpt-4o: 1,445), its patch rule at the usual multiplier (gpt-4.1-mini:
2,488) and Anthropic's 1.15-megapixel rule (~1,600). Models whose rule counts more carry
their own bound (`Deployment.image_tokens`), added on top per deployment."""

_RANK: dict[str, int] = {level: i for i, level in enumerate(SENSITIVITY_LEVELS)}
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _unprintable(text: str) -> int | None:
    """Index of the first control, format, surrogate or line-separator character, or None."""
    if text.isascii() and text.isprintable():
        return None
    for i, ch in enumerate(text):
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            return i
    return None


def sensitivity_rank(level: Sensitivity) -> int:
    """Order of a sensitivity level: public=0 < internal < confidential < restricted=3."""
    return _RANK[level]


class Frozen(BaseModel):
    # defer_build: the validators are built on first use, not at `import router`
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class CostModel(Frozen):
    """What a self-hosted deployment costs to run, turned into a per-token price.

    `usd_per_hour` for the machine (GPU) serving it, at a stated throughput.
    """

    usd_per_hour: float = Field(ge=0)
    output_tokens_per_second: float = Field(gt=0)
    input_tokens_per_second: float | None = Field(default=None, gt=0)

    def usd_per_token(self) -> tuple[float, float]:
        """(input, output) USD per token. Prompt processing defaults to 10x output speed."""
        out_tps = self.output_tokens_per_second
        in_tps = self.input_tokens_per_second or out_tps * 10
        per_second = self.usd_per_hour / 3600.0
        return per_second / in_tps, per_second / out_tps


Client = Literal["litellm", "direct"]


class Deployment(Frozen):
    """One place a request can be sent, with every fact the planner needs filled in.

    Built from a config entry by `router.decision._catalog.resolve`, which fills prices,
    context window and capabilities from litellm's bundled price map.
    """

    name: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key_env: str | None = None
    hosting: Hosting
    weights: Weights
    vendor: str | None = None
    origin: str | None = None
    region: str | None = None
    license: str | None = None
    context_window: int = Field(gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    capabilities: frozenset[Capability] = frozenset()
    input_usd_per_token: float = Field(ge=0)
    output_usd_per_token: float = Field(ge=0)
    price_source: str = "catalog"
    quality: float = Field(ge=0, le=1)
    quality_source: str = "deployment"
    image_tokens: int = Field(default=IMAGE_TOKENS, gt=0)
    """The most one image can count as input tokens here (the catalog knows the models whose
    rule exceeds `IMAGE_TOKENS`: gpt-4o-mini, the nano and o4-mini patch models, Gemini)."""
    api_version: str | None = None
    """Sent to litellm as `api_version` (Azure OpenAI and other versioned APIs)."""
    extra_headers: dict[str, str] = Field(default_factory=dict)
    """HTTP headers sent with every call, values as written (never a secret)."""
    extra_headers_env: dict[str, str] = Field(default_factory=dict)
    """HTTP headers whose values are read from these environment variables at call time."""
    litellm_params: dict[str, Any] = Field(default_factory=dict)
    """More `litellm.completion` keyword arguments (`router.decision._catalog.LITELLM_PARAMS`)."""
    client: Client = "litellm"
    """How calls are made: through litellm, or `"direct"`: the OpenAI chat-completions
    HTTP API spoken to `api_base` by the router itself (router.serving._direct)."""

    def image_surplus(self, features: Features) -> int:
        """Tokens this deployment may count for the request's images beyond what the
        request's prompt figures already hold (`IMAGE_TOKENS` each); 0 for most models."""
        if not features.images or self.image_tokens <= IMAGE_TOKENS:
            return 0
        return features.images * (self.image_tokens - IMAGE_TOKENS)

    @property
    def is_free(self) -> bool:
        """True when serving a request costs nothing (no API fee and no stated cost model)."""
        return self.input_usd_per_token == 0 and self.output_usd_per_token == 0

    def attribute(self, field: str) -> str | None:
        """The value a policy selector matches against (`name`, `vendor`, `origin`...)."""
        value = getattr(self, field)
        return None if value is None else str(value)


class Message(BaseModel):
    """An OpenAI-style chat message. Extra provider fields pass through untouched."""

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _parts_have_type(
        cls, value: str | list[dict[str, Any]] | None
    ) -> str | list[dict[str, Any]] | None:
        if isinstance(value, list):
            for i, part in enumerate(value):
                if not isinstance(part.get("type"), str):
                    raise ValueError(
                        f"content part {i} has no 'type'; write e.g. "
                        '{"type": "text", "text": "..."}'
                    )
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise ValueError(
                        f"content part {i} is of type 'text' but its 'text' is not a string; "
                        'write {"type": "text", "text": "..."}'
                    )
                file = part.get("file")
                holder = file if isinstance(file, dict) else part
                if "file_id" in holder and "file_data" not in holder:
                    raise ValueError(
                        f"content part {i} refers to a file stored at the provider (file_id), "
                        "which the router can neither scan nor count; send its content as "
                        '{"type": "file", "file": {"filename": "...", "file_data": '
                        '"data:...;base64,..."}}'
                    )
        return value


class Request(Frozen):
    """What the caller asked, validated once at the edge."""

    messages: tuple[Message, ...] = Field(min_length=1)
    tools: tuple[dict[str, Any], ...] | None = None
    response_format: dict[str, Any] | None = None
    max_tokens: StrictInt | None = Field(default=None, gt=0)
    tenant: str = Field(default="default", min_length=1, max_length=200)
    sensitivity: Sensitivity = "public"
    tags: tuple[str, ...] = ()
    quality_target: float | None = Field(default=None, gt=0, le=1)
    choices: int = Field(default=1, ge=1)
    """`n`: how many answers the provider generates (and bills) for one call."""
    output_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """The name the output bound is sent under: the caller's (`max_completion_tokens` when
    it was given, which also bounds reasoning tokens), one field only."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The other OpenAI parameters, passed through to the provider as given (`user`,
    `metadata`, `stop`, `seed`...): the detectors scan every key and value of them, since
    they leave the machine with the prompt; they are not prompt."""

    @field_validator("tenant")
    @classmethod
    def _tenant_printable(cls, value: str) -> str:
        at = _unprintable(value)
        if at is not None:
            raise ValueError(
                f"character {at} is a control, format or separator character; a tenant is "
                "one printable word or id, e.g. tenant='acme-eu'"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags_printable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, tag in enumerate(value):
            if not tag or len(tag) > 200 or _unprintable(tag) is not None:
                raise ValueError(
                    f"tag {i} must be 1-200 printable characters without control or "
                    "separator characters, e.g. tags=['support']"
                )
        return value

    @field_validator("tools")
    @classmethod
    def _tools_named(
        cls, value: tuple[dict[str, Any], ...] | None
    ) -> tuple[dict[str, Any], ...] | None:
        for i, tool in enumerate(value or ()):
            if tool.get("type", "function") != "function" and "function" not in tool:
                continue  # a provider's built-in tool (web_search...): passed through as is
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(name, str):
                raise ValueError(
                    f"tool {i} needs 'function': {{'name': 'get_weather', 'parameters': {{...}}}}"
                )
            if not _TOOL_NAME.fullmatch(name):
                raise ValueError(
                    f"tool {i}: the function name must be 1-64 letters, digits, '_', '-', "
                    "'.' or ':' (OpenAI: letters, digits, '_' and '-'), e.g. 'get_weather'"
                )
        return value

    @field_validator("response_format")
    @classmethod
    def _format_has_type(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("type"), str):
            raise ValueError('needs a string "type": "text", "json_object" or "json_schema"')
        return value


class Detection(Frozen):
    """How many findings of one kind a detector made. Never the matched text."""

    kind: DetectorKind
    count: int = Field(gt=0)
    level: Sensitivity


class Unscannable(Frozen):
    """Parts of one kind the detectors could not read, and the sensitivity floor they set
    (the policy pack's `unscannable` level). Never their content."""

    kind: UnscannableKind
    count: int = Field(gt=0)
    level: Sensitivity


class Features(Frozen):
    """What the planner knows about a request. Holds no prompt text, only its hash."""

    prompt_hash: str
    """BLAKE2b-256 (hex) of the prompt as the model reads it; never the text itself."""
    prompt_bytes: int
    prompt_tokens: int
    prompt_tokens_exact: bool
    max_output_tokens: int
    output_budget_source: Literal["request", "default"]
    capabilities: tuple[Capability, ...]
    declared_sensitivity: Sensitivity
    sensitivity: Sensitivity
    detections: tuple[Detection, ...] = ()
    unscannable: tuple[Unscannable, ...] = ()
    """Content no detector could read (images, audio, binary files): each kind raised the
    sensitivity to at least its `level`."""
    choices: int = 1
    """`n`: answers generated per call; the output budget is per answer."""
    images: int = 0
    """Image parts, each counted at `IMAGE_TOKENS` in the prompt figures (a deployment whose
    rule counts more adds `Deployment.image_surplus`)."""
    tenant: str = "default"
    tags: tuple[str, ...] = ()
    message_count: int = 1
    profile: tuple[float, ...] = ()
    """The last user turn's encoding by the scorer (`router.quality.trained`: its
    difficulty and gap, two numbers and no text), when the scorer has one; empty
    otherwise."""

    @property
    def max_output_total(self) -> int:
        """The output budget over all `choices`: the most output a provider may bill."""
        return self.max_output_tokens * self.choices
