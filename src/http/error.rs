//! The one place where errors become responses: an OCI error code, an HTTP status and the
//! `{"errors":[{"code","message","detail"}]}` body of the OCI Distribution Spec v1.1.
//!
//! The code catalogue follows the spec's "Error Codes" table, plus Distribution's `TAG_INVALID`,
//! `RANGE_INVALID`, `PAGINATION_NUMBER_INVALID` and `UNKNOWN` (see Distribution's
//! `registry/api/errcode/register.go`), and Distribution's `UNAUTHORIZED`, `DENIED` and
//! `TOOMANYREQUESTS` for access. The management API (`/api/v1`) adds `INVALID_REQUEST`,
//! `NOT_FOUND` and `CONFLICT` in the same body shape. Internal errors never reach the client: it
//! sees `UNKNOWN` and the server logs the cause.

use std::io;

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{auth, lifecycle, registry, storage};

/// Why an API request failed: the registry's errors plus those of HTTP parsing.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Auth(#[from] auth::Error),
    /// A lifecycle failure that is neither the registry's nor access control's.
    #[error(transparent)]
    Lifecycle(lifecycle::Error),
    /// No API endpoint has this path.
    #[error("no such endpoint")]
    NotFound,
    /// The endpoint does not support this method.
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// `Content-Range` of a chunk is not `<start>-<end>`.
    #[error("malformed Content-Range {0:?}")]
    ContentRangeInvalid(String),
    /// An upload was closed without `?digest=`.
    #[error("the digest query parameter is required")]
    DigestMissing,
    /// `n` is not a non-negative number.
    #[error("invalid page size {0:?}")]
    PaginationNumberInvalid(String),
    /// A manifest body over the size limit.
    #[error("manifest larger than {limit} bytes")]
    ManifestTooLarge { limit: usize },
    /// Reading a manifest body failed.
    #[error("reading the manifest body: {0}")]
    ManifestBody(io::Error),
    /// The stored manifest's media type is not among those the client accepts.
    #[error("manifest media type {0} is not in the Accept header")]
    NotAcceptable(String),
    /// A management API request whose JSON body, query or path could not be read (the status
    /// and message are axum's: 400, 415 or 422).
    #[error("{message}")]
    RequestInvalid { status: StatusCode, message: String },
}

/// The rejections of axum's extractors, which would answer in text/plain, as JSON errors.
macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> ApiError {
                ApiError::RequestInvalid {
                    status: rejection.status(),
                    message: rejection.body_text(),
                }
            }
        }
    )*};
}

from_rejection!(
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::PathRejection
);

impl ApiError {
    pub fn oci_code(&self) -> &'static str {
        use auth::Error as A;
        use lifecycle::Error as L;
        use registry::Error as R;
        match self {
            ApiError::Registry(e) => match e {
                R::NameInvalid(_) => "NAME_INVALID",
                R::NameUnknown(_) => "NAME_UNKNOWN",
                R::TagInvalid(_) => "TAG_INVALID",
                R::DigestInvalid(_) | R::DigestMismatch { .. } => "DIGEST_INVALID",
                R::BlobUnknown(_) => "BLOB_UNKNOWN",
                R::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
                R::ChunkOutOfOrder { .. } | R::RangeNotSatisfiable { .. } => "RANGE_INVALID",
                R::SizeInvalid { .. } => "SIZE_INVALID",
                R::UploadBusy | R::Body(_) => "BLOB_UPLOAD_INVALID",
                R::ManifestUnknown { .. } => "MANIFEST_UNKNOWN",
                R::ManifestInvalid(_) => "MANIFEST_INVALID",
                R::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
                R::Denied(_) => "DENIED",
                R::BlobBusy(_) => "TOOMANYREQUESTS",
                R::Storage(_) => "UNKNOWN",
            },
            ApiError::Auth(e) => match e {
                A::Unauthenticated | A::BadToken(_) | A::InsufficientScope(_) => "UNAUTHORIZED",
                A::Denied(_) | A::ScopeDenied(_) => "DENIED",
                A::TooManyRequests(_) => "TOOMANYREQUESTS",
                A::Invalid(_) => "INVALID_REQUEST",
                A::NotFound(_) => "NOT_FOUND",
                A::Conflict(_) => "CONFLICT",
                A::Internal(_) | A::Storage(_) => "UNKNOWN",
            },
            ApiError::Lifecycle(e) => match e {
                L::Invalid(_) => "INVALID_REQUEST",
                L::NotFound(_) => "NOT_FOUND",
                L::Busy(_) => "CONFLICT",
                L::Registry(_) | L::Access(_) | L::Storage(_) => "UNKNOWN",
            },
            ApiError::NotFound | ApiError::MethodNotAllowed => "UNSUPPORTED",
            ApiError::ContentRangeInvalid(_) => "BLOB_UPLOAD_INVALID",
            ApiError::DigestMissing => "DIGEST_INVALID",
            ApiError::PaginationNumberInvalid(_) => "PAGINATION_NUMBER_INVALID",
            ApiError::ManifestTooLarge { .. } => "SIZE_INVALID",
            ApiError::ManifestBody(_) => "MANIFEST_INVALID",
            ApiError::NotAcceptable(_) => "MANIFEST_UNKNOWN",
            ApiError::RequestInvalid { .. } => "INVALID_REQUEST",
        }
    }

    pub fn status(&self) -> StatusCode {
        use auth::Error as A;
        use lifecycle::Error as L;
        use registry::Error as R;
        match self {
            ApiError::Registry(e) => match e {
                R::NameInvalid(_)
                | R::TagInvalid(_)
                | R::DigestInvalid(_)
                | R::DigestMismatch { .. }
                | R::SizeInvalid { .. }
                | R::Body(_)
                | R::ManifestInvalid(_)
                | R::ManifestBlobUnknown(_) => StatusCode::BAD_REQUEST,
                R::NameUnknown(_)
                | R::BlobUnknown(_)
                | R::BlobUploadUnknown
                | R::ManifestUnknown { .. } => StatusCode::NOT_FOUND,
                R::ChunkOutOfOrder { .. } | R::RangeNotSatisfiable { .. } => {
                    StatusCode::RANGE_NOT_SATISFIABLE
                }
                R::UploadBusy => StatusCode::CONFLICT,
                R::Denied(_) => StatusCode::FORBIDDEN,
                R::BlobBusy(_) => StatusCode::TOO_MANY_REQUESTS,
                R::Storage(e) => storage_status(e),
            },
            ApiError::Auth(e) => match e {
                A::Unauthenticated | A::BadToken(_) | A::InsufficientScope(_) => {
                    StatusCode::UNAUTHORIZED
                }
                A::Denied(_) | A::ScopeDenied(_) => StatusCode::FORBIDDEN,
                A::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                A::Invalid(_) => StatusCode::BAD_REQUEST,
                A::NotFound(_) => StatusCode::NOT_FOUND,
                A::Conflict(_) => StatusCode::CONFLICT,
                A::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                A::Storage(e) => storage_status(e),
            },
            ApiError::Lifecycle(e) => match e {
                L::Invalid(_) => StatusCode::BAD_REQUEST,
                L::NotFound(_) => StatusCode::NOT_FOUND,
                L::Busy(_) => StatusCode::CONFLICT,
                L::Registry(_) | L::Access(_) => StatusCode::INTERNAL_SERVER_ERROR,
                L::Storage(e) => storage_status(e),
            },
            ApiError::NotFound | ApiError::NotAcceptable(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::ContentRangeInvalid(_)
            | ApiError::DigestMissing
            | ApiError::PaginationNumberInvalid(_)
            | ApiError::ManifestBody(_) => StatusCode::BAD_REQUEST,
            ApiError::ManifestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestInvalid { status, .. } => *status,
        }
    }
}

impl ApiError {
    /// The `detail` of the error body, as Distribution fills it: what was not found or not
    /// valid, so that clients can say which tag, name or digest it was.
    fn detail(&self) -> serde_json::Value {
        use registry::Error as R;
        match self {
            ApiError::Registry(e) => match e {
                R::ManifestUnknown { name, reference } => {
                    let key = if reference.contains(':') {
                        "Revision"
                    } else {
                        "Tag"
                    };
                    json!({"Name": name, key: reference})
                }
                R::NameInvalid(name) | R::NameUnknown(name) => json!({"name": name}),
                R::TagInvalid(tag) => json!({"tag": tag}),
                R::DigestInvalid(digest) => json!({"digest": digest}),
                R::DigestMismatch { expected, computed } => {
                    json!({"digest": expected.to_string(), "computed": computed.to_string()})
                }
                R::BlobUnknown(digest) | R::ManifestBlobUnknown(digest) | R::BlobBusy(digest) => {
                    json!(digest.to_string())
                }
                R::ChunkOutOfOrder { start, offset } => json!({"start": start, "offset": offset}),
                R::SizeInvalid { declared, actual } => {
                    json!({"declared": declared, "actual": actual})
                }
                R::RangeNotSatisfiable { size } => json!({"size": size}),
                R::BlobUploadUnknown
                | R::UploadBusy
                | R::Body(_)
                | R::ManifestInvalid(_)
                | R::Denied(_)
                | R::Storage(_) => serde_json::Value::Null,
            },
            ApiError::ManifestTooLarge { limit } => json!({"limit": limit}),
            ApiError::Auth(_)
            | ApiError::Lifecycle(_)
            | ApiError::NotFound
            | ApiError::MethodNotAllowed
            | ApiError::ContentRangeInvalid(_)
            | ApiError::DigestMissing
            | ApiError::PaginationNumberInvalid(_)
            | ApiError::ManifestBody(_)
            | ApiError::NotAcceptable(_)
            | ApiError::RequestInvalid { .. } => serde_json::Value::Null,
        }
    }
}

/// A store's failure is internal, except a full volume: 507, whose message the client sees
/// (Docker prints the status: "507 Insufficient Storage").
fn storage_status(e: &storage::Error) -> StatusCode {
    match e {
        storage::Error::OutOfSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        storage::Error::NotFound
        | storage::Error::UploadSizeMismatch { .. }
        | storage::Error::Body(_)
        | storage::Error::Io(_)
        | storage::Error::Db(_)
        | storage::Error::Read(_)
        | storage::Error::Migrate(_)
        | storage::Error::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Registry and access failures keep their own codes when they come through the lifecycle
/// service; only its own failures are `ApiError::Lifecycle`.
impl From<lifecycle::Error> for ApiError {
    fn from(e: lifecycle::Error) -> ApiError {
        match e {
            lifecycle::Error::Registry(e) => ApiError::Registry(e),
            lifecycle::Error::Access(e) => ApiError::Auth(e),
            e => ApiError::Lifecycle(e),
        }
    }
}

/// The cause of an internal error, for the logging middleware; never sent to the client.
#[derive(Debug, Clone)]
pub struct InternalError(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let internal = status.is_server_error();
        let out_of_space = status == StatusCode::INSUFFICIENT_STORAGE;
        let message = if out_of_space {
            "the registry is out of storage space; try again once space is freed".to_owned()
        } else if internal {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        if out_of_space {
            metrics::counter!("berth_storage_full_total").increment(1);
        }
        let body = json!({"errors": [{"code": self.oci_code(), "message": message, "detail": self.detail()}]});
        let mut response = (status, Json(body)).into_response();
        if internal {
            response
                .extensions_mut()
                .insert(InternalError(error_chain(&self)));
        }
        if let ApiError::Auth(auth::Error::TooManyRequests(seconds)) = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if let ApiError::Registry(registry::Error::RangeNotSatisfiable { size }) = self {
            let value = format!("bytes */{size}")
                .parse()
                .expect("ASCII header value");
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_RANGE, value);
        }
        response
    }
}

/// The error and its sources, one after the other.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Middleware: logs the cause of every internal error, which its response never carries (as
/// axum's error-handling example does in `log_app_errors`).
pub async fn log_internal(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    if let Some(InternalError(cause)) = response.extensions().get::<InternalError>() {
        let route = response
            .extensions()
            .get::<super::metrics::RouteLabel>()
            .map_or("other", |label| &label.0);
        tracing::error!(route, %method, "internal error: {cause}");
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// Everything a subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_internal_cause_is_logged_and_never_sent() {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let failing = || async {
            ApiError::from(registry::Error::Storage(storage::Error::Corrupt(
                "the disk is on fire".into(),
            )))
        };
        let app = Router::new()
            .route("/", get(failing))
            .layer(axum::middleware::from_fn(log_internal));
        let request = Request::get("/").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("on fire"), "{body}");
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("internal error") && logged.contains("on fire"),
            "{logged}"
        );
    }
}
