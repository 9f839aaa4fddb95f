//! Errors of the HTTP API: one closed set of codes, each with its HTTP status and gRPC code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What went wrong, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    /// No token, or an unknown one.
    Unauthorized,
    /// A token without the scope the request needs.
    Forbidden,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Temporarily unable to take more: retry later.
    Unavailable,
    /// The tenant sends faster than its rate: retry after the time given.
    RateLimited,
    /// A read ran past its time-out and was stopped: retrying the same read will not help.
    QueryTimeout,
    Internal,
}

impl ErrorCode {
    pub fn http(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::QueryTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn grpc(self) -> tonic::Code {
        match self {
            ErrorCode::BadRequest => tonic::Code::InvalidArgument,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::Unauthorized => tonic::Code::Unauthenticated,
            ErrorCode::Forbidden => tonic::Code::PermissionDenied,
            ErrorCode::PayloadTooLarge => tonic::Code::InvalidArgument,
            ErrorCode::UnsupportedMediaType => tonic::Code::InvalidArgument,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::RateLimited => tonic::Code::ResourceExhausted,
            ErrorCode::QueryTimeout => tonic::Code::DeadlineExceeded,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }
}

/// An error answered to an API client: a clean message; the detail goes to the log.
#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// Whole seconds a client should wait before retrying (the `Retry-After` header).
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retry_after = (code == ErrorCode::Unavailable).then_some(1);
        AppError { code, message: message.into(), retry_after }
    }

    /// Past a tenant's rate: retry after `wait` (rounded up to whole seconds, as HTTP wants).
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        AppError { code: ErrorCode::RateLimited, message: message.into(), retry_after: Some(secs) }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
}

impl From<faultline_store::StoreError> for AppError {
    fn from(e: faultline_store::StoreError) -> Self {
        if let faultline_store::StoreError::Budget(m) = &e {
            return AppError::bad_request(m.clone());
        }
        if e.is_retryable() {
            AppError::new(ErrorCode::Unavailable, e.to_string())
        } else {
            tracing::error!(error = %e, "store error");
            AppError::new(ErrorCode::Internal, format!("storage error: {e}"))
        }
    }
}

impl From<faultline_query::QueryError> for AppError {
    fn from(e: faultline_query::QueryError) -> Self {
        match e {
            faultline_query::QueryError::Filter(f) => AppError::bad_request(format!("invalid filter: {f}")),
            faultline_query::QueryError::Store(s) => s.into(),
            faultline_query::QueryError::Cursor(m) => AppError::bad_request(m),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.code.http();
        let mut resp = (status, axum::Json(serde_json::json!({"error": self.message}))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from(secs));
        }
        resp
    }
}
