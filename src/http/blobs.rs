//! Blob and upload handlers.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::metrics::UploadInProgress;
use super::{ApiResult, AppState, DOCKER_CONTENT_DIGEST, body, header_str, header_value};
use crate::auth::Caller;
use crate::lifecycle::{Started, UploadStart};
use crate::oci::digest::Digest;
use crate::registry::{BlobRange, UploadState};

const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");

/// `GET|HEAD /v2/<name>/blobs/<digest>` with an optional `Range: bytes=<start>-<end>`.
/// 200 (or 206 with `Content-Range`) with the bytes, `Docker-Content-Digest`, `Content-Length`.
pub async fn get(
    state: &AppState,
    name: &str,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> ApiResult {
    let range = header_str(headers, &header::RANGE).and_then(parse_range);
    let mut response = if head {
        // HEAD ignores ranges, as Distribution does: it reports the whole blob.
        let size = state.registry.stat_blob(name, digest).await?;
        let mut response = StatusCode::OK.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, size.into());
        response
    } else {
        let blob = state.registry.read_blob(name, digest, range).await?;
        let mut response = Body::from_stream(blob.body).into_response();
        let headers = response.headers_mut();
        match blob.range {
            Some((start, end)) => {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_LENGTH, (end - start + 1).into());
                let content_range = format!("bytes {start}-{end}/{}", blob.size);
                headers.insert(header::CONTENT_RANGE, header_value(&content_range));
            }
            None => {
                headers.insert(header::CONTENT_LENGTH, blob.size.into());
            }
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header_value("application/octet-stream"),
    );
    headers.insert(DOCKER_CONTENT_DIGEST, header_value(&digest.to_string()));
    headers.insert(header::ETAG, header_value(&format!("\"{digest}\"")));
    headers.insert(header::ACCEPT_RANGES, header_value("bytes"));
    // Content-addressed bytes never change.
    headers.insert(header::CACHE_CONTROL, header_value("max-age=31536000"));
    Ok(response)
}

/// `DELETE /v2/<name>/blobs/<digest>`: 202; the blob leaves the repository.
pub async fn delete(state: &AppState, caller: &Caller, name: &str, digest: &Digest) -> ApiResult {
    state.lifecycle.delete_blob(caller, name, digest).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /v2/<name>/blobs/uploads/` in its three forms:
/// - `?mount=<digest>&from=<repo>`: 201 when mounted, else 202 with a new session;
/// - `?digest=<digest>` with the whole blob as body: 201 (monolithic upload);
/// - no query: 202 with `Location` of a new session.
///
/// A mount needs `pull` on `from`; without it, the client gets a new session instead.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    name: &str,
    mount: Option<String>,
    from: Option<String>,
    digest: Option<String>,
    body: Body,
) -> ApiResult {
    let start = match (mount, digest) {
        (Some(mount), _) => UploadStart::Mount {
            digest: parse_digest(&mount)?,
            from,
        },
        (None, Some(digest)) => UploadStart::Whole {
            digest: parse_digest(&digest)?,
            body: body::stream(body, state.body_limits),
        },
        (None, None) => UploadStart::Session,
    };
    let _in_progress = matches!(start, UploadStart::Whole { .. }).then(UploadInProgress::start);
    Ok(
        match state.lifecycle.start_upload(caller, name, start).await? {
            Started::Stored(digest) => created(name, &digest),
            Started::Session(upload) => session(StatusCode::ACCEPTED, name, &upload),
        },
    )
}

/// `GET /v2/<name>/blobs/uploads/<id>`: 204 with `Range: 0-<last byte>`.
pub async fn status(state: &AppState, name: &str, id: &str) -> ApiResult {
    let upload = state.registry.upload_status(name, id).await?;
    Ok(session(StatusCode::NO_CONTENT, name, &upload))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>` with a chunk, and `Content-Range: <start>-<end>` when
/// the client says where it goes: 202 with the new `Range`, or 416 if out of order.
pub async fn patch(
    state: &AppState,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    let (start, declared) = chunk_range(headers)?;
    let _in_progress = UploadInProgress::start();
    let body = body::stream(body, state.body_limits);
    let upload = state
        .registry
        .append_upload(name, id, start, declared, body)
        .await?;
    Ok(session(StatusCode::ACCEPTED, name, &upload))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=<digest>`, optionally with a last chunk: 201, or
/// 416 (the session kept) when its `Content-Range` does not start where the session stands.
pub async fn finish(
    state: &AppState,
    name: &str,
    id: &str,
    digest: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    let digest = parse_digest(&digest.ok_or(ApiError::DigestMissing)?)?;
    let (start, declared) = chunk_range(headers)?;
    let _in_progress = UploadInProgress::start();
    let body = body::stream(body, state.body_limits);
    state
        .registry
        .finish_upload(name, id, &digest, start, declared, body)
        .await?;
    Ok(created(name, &digest))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: 204; the session and its bytes are gone.
pub async fn cancel(state: &AppState, name: &str, id: &str) -> ApiResult {
    state.registry.cancel_upload(name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse()
        .map_err(|_| ApiError::Registry(crate::registry::Error::DigestInvalid(text.to_owned())))
}

/// 201 for a blob now in the repository.
fn created(name: &str, digest: &Digest) -> Response {
    let digest = digest.to_string();
    let location = format!("/v2/{name}/blobs/{digest}");
    let headers = [
        (header::LOCATION, header_value(&location)),
        (DOCKER_CONTENT_DIGEST, header_value(&digest)),
        (header::CONTENT_LENGTH, header_value("0")),
    ];
    (StatusCode::CREATED, headers).into_response()
}

/// An upload session's headers: `Location`, `Range` (Distribution's `0-0` when empty) and
/// `Docker-Upload-UUID`.
fn session(status: StatusCode, name: &str, upload: &UploadState) -> Response {
    let location = format!("/v2/{name}/blobs/uploads/{}", upload.id);
    let range = format!("0-{}", upload.offset.saturating_sub(1));
    let headers = [
        (header::LOCATION, header_value(&location)),
        (header::RANGE, header_value(&range)),
        (DOCKER_UPLOAD_UUID, header_value(&upload.id)),
        (header::CONTENT_LENGTH, header_value("0")),
    ];
    (status, headers).into_response()
}

/// Parses `Range: bytes=<start>-<end>`, `bytes=<start>-` or `bytes=-<suffix>`. Anything else
/// (several ranges, other units) is ignored and the whole blob served, as RFC 9110 allows.
fn parse_range(value: &str) -> Option<BlobRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let number = |text: &str| text.trim().parse::<u64>().ok();
    if start.trim().is_empty() {
        return Some(BlobRange::Suffix(number(end)?));
    }
    let end = if end.trim().is_empty() {
        None
    } else {
        Some(number(end)?)
    };
    Some(BlobRange::From {
        start: number(start)?,
        end,
    })
}

/// Parses a chunk's `Content-Range: <start>-<end>` (inclusive; `bytes ` prefix tolerated).
/// Where a chunk says it starts and how long it says it is (`Content-Range`), if it says.
fn chunk_range(headers: &HeaderMap) -> Result<(Option<u64>, Option<u64>), ApiError> {
    let Some(range) = header_str(headers, &header::CONTENT_RANGE) else {
        return Ok((None, None));
    };
    let (start, end) = parse_content_range(range)?;
    // `0-18446744073709551615` is a range of 2^64 bytes, one more than a u64 holds.
    let length = (end - start)
        .checked_add(1)
        .ok_or_else(|| ApiError::ContentRangeInvalid(range.to_owned()))?;
    Ok((Some(start), Some(length)))
}

fn parse_content_range(value: &str) -> Result<(u64, u64), ApiError> {
    let invalid = || ApiError::ContentRangeInvalid(value.to_owned());
    let spec = value.trim();
    let spec = spec
        .strip_prefix("bytes")
        .map_or(spec, |s| s.trim_start_matches([' ', '=']));
    let spec = spec.split('/').next().unwrap_or(spec);
    let (start, end) = spec.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers_parse() {
        assert_eq!(
            parse_range("bytes=0-9"),
            Some(BlobRange::From {
                start: 0,
                end: Some(9)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(BlobRange::From {
                start: 5,
                end: None
            })
        );
        assert_eq!(parse_range("bytes=-3"), Some(BlobRange::Suffix(3)));
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("items=0-1"), None);
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(parse_content_range("0-1023").unwrap(), (0, 1023));
        assert_eq!(parse_content_range("bytes 10-19/*").unwrap(), (10, 19));
        assert!(parse_content_range("10").is_err());
        assert!(parse_content_range("9-3").is_err());
    }
}
