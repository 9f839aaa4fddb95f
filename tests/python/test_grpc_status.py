"""OTLP/gRPC status codes for bad requests, as the OTLP specification's table wants them: a message
that does not decode, or one above the size limit, is INVALID_ARGUMENT (not retried), never
INTERNAL or OUT_OF_RANGE (which OTLP clients retry forever)."""

import grpc
import pytest

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def call(server, payload: bytes):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc}") as ch:
        export = ch.unary_unary(METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            export(payload, timeout=10)
        return err.value.code()


def test_truncated_protobuf_is_invalid_argument(server):
    # A field 1 (resource_spans) that declares 100 bytes and holds 3.
    assert call(server, b"\x0a\x64abc") == grpc.StatusCode.INVALID_ARGUMENT


def test_oversized_message_is_invalid_argument(server):
    # Above the server's default --max-body of 64 MiB.
    assert call(server, b"\x0a" + b"\x80\x80\x80\x21" + b"x" * (70 << 20)) == grpc.StatusCode.INVALID_ARGUMENT
