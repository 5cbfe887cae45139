"""The wire format shared by edge workers and the API (pydantic and stdlib only)."""

from services.contracts.result import (
    SCHEMA_VERSION,
    SUPPORTED_VERSIONS,
    Box,
    CellDecision,
    CellResult,
    Grid,
    ImageRef,
    ModelRef,
    ResultEnvelope,
    Stage,
    Verdict,
    canonical_json,
    make_result_id,
)
from services.contracts.signing import (
    SignatureError,
    StreamMessage,
    decode_fields,
    decode_message,
    derive_signing_key,
    encode_message,
    results_stream,
)

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_VERSIONS",
    "Box",
    "CellDecision",
    "CellResult",
    "Grid",
    "ImageRef",
    "ModelRef",
    "ResultEnvelope",
    "SignatureError",
    "Stage",
    "StreamMessage",
    "Verdict",
    "canonical_json",
    "decode_fields",
    "decode_message",
    "derive_signing_key",
    "encode_message",
    "make_result_id",
    "results_stream",
]
