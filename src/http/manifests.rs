//! Manifest, tag list, catalog and referrers handlers.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ApiResult, AppState, DOCKER_CONTENT_DIGEST, header_str, header_value};
use crate::auth::Caller;
use crate::oci::digest::Digest;
use crate::oci::names::Reference;
use crate::oci::spec;
use crate::registry::{OCI_INDEX, Page};

/// The largest manifest accepted, as in Distribution and the OCI spec's advice.
pub const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;

const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// `GET|HEAD /v2/<name>/manifests/<reference>`: the manifest with its own `Content-Type`, if
/// the `Accept` header allows it (no `Accept` allows anything).
pub async fn get(
    state: &AppState,
    name: &str,
    reference: &Reference,
    headers: &HeaderMap,
    head: bool,
) -> ApiResult {
    let manifest = state.lifecycle.get_manifest(name, reference, head).await?;
    if !accepts(headers, &manifest.media_type) {
        return Err(ApiError::NotAcceptable(manifest.media_type));
    }
    let digest = manifest.digest.to_string();
    let length = manifest.content.len();
    let response_headers = [
        (header::CONTENT_TYPE, header_value(&manifest.media_type)),
        (DOCKER_CONTENT_DIGEST, header_value(&digest)),
        (header::ETAG, header_value(&format!("\"{digest}\""))),
    ];
    let body = if head {
        Body::empty()
    } else {
        Body::from(manifest.content)
    };
    let mut response = (response_headers, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, length.into());
    Ok(response)
}

/// `PUT /v2/<name>/manifests/<reference>` with the manifest as body (at most 4 MiB): 201 with
/// `Location`, `Docker-Content-Digest`, and `OCI-Subject` when the manifest has a subject.
pub async fn put(
    state: &AppState,
    caller: &Caller,
    name: &str,
    reference: &Reference,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    let too_large = ApiError::ManifestTooLarge {
        limit: MANIFEST_LIMIT,
    };
    let declared =
        header_str(headers, &header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MANIFEST_LIMIT) {
        return Err(too_large);
    }
    let content = match Limited::new(body, MANIFEST_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large),
        Err(e) => return Err(ApiError::ManifestBody(std::io::Error::other(e))),
    };
    let content_type = header_str(headers, &header::CONTENT_TYPE);
    let put = state
        .lifecycle
        .put_manifest(caller, name, reference, content_type, content)
        .await?;
    let digest = put.digest.to_string();
    let mut response = (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                header_value(&format!("/v2/{name}/manifests/{digest}")),
            ),
            (DOCKER_CONTENT_DIGEST, header_value(&digest)),
            (header::CONTENT_LENGTH, header_value("0")),
        ],
    )
        .into_response();
    if let Some(subject) = put.subject {
        response
            .headers_mut()
            .insert(OCI_SUBJECT, header_value(&subject.to_string()));
    }
    Ok(response)
}

/// `DELETE /v2/<name>/manifests/<reference>`: 202. By digest the manifest and its tags go; by
/// tag only the tag.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    name: &str,
    reference: &Reference,
) -> ApiResult {
    state
        .lifecycle
        .delete_manifest(caller, name, reference)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /v2/<name>/tags/list?n=<n>&last=<tag>`: `{"name","tags"}` in lexical order, with a
/// `Link: <…>; rel="next"` header when more follow.
pub async fn tags(
    state: &AppState,
    name: &str,
    n: Option<String>,
    last: Option<String>,
) -> ApiResult {
    let (n, last) = (page_size(n.as_deref())?, last.as_deref());
    let page = state.registry.tags(name, last, n).await?;
    let link = next_link(&format!("/v2/{name}/tags/list"), n, &page);
    Ok(listing(json!({"name": name, "tags": page.items}), link))
}

/// `GET /v2/_catalog?n=<n>&last=<name>`: `{"repositories"}` in lexical order, paginated alike.
/// Only repositories of projects the caller may see are listed.
pub async fn catalog(
    state: &AppState,
    caller: &Caller,
    n: Option<String>,
    last: Option<String>,
) -> ApiResult {
    let (n, last) = (page_size(n.as_deref())?, last.as_deref());
    let page = state.lifecycle.catalog(caller, last, n).await?;
    let link = next_link("/v2/_catalog", n, &page);
    Ok(listing(json!({"repositories": page.items}), link))
}

/// `GET /v2/<name>/referrers/<digest>?artifactType=<type>`: an OCI image index of the
/// manifests whose subject is `<digest>` (empty when there are none), with
/// `OCI-Filters-Applied: artifactType` when filtered.
pub async fn referrers(
    state: &AppState,
    name: &str,
    digest: &Digest,
    artifact_type: Option<&str>,
) -> ApiResult {
    let index = state
        .registry
        .referrers_index(name, digest, artifact_type)
        .await?;
    let mut response = ([(header::CONTENT_TYPE, OCI_INDEX)], spec::to_vec(&index)).into_response();
    if artifact_type.is_some() {
        response
            .headers_mut()
            .insert(OCI_FILTERS_APPLIED, header_value("artifactType"));
    }
    Ok(response)
}

/// Whether the `Accept` headers admit `media_type`; no `Accept` admits everything.
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let mut any = false;
    for value in headers.get_all(header::ACCEPT) {
        for item in value.to_str().unwrap_or("").split(',') {
            let item = item.split(';').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            any = true;
            if item == media_type || item == "*/*" || item == "application/*" {
                return true;
            }
        }
    }
    !any
}

fn page_size(n: Option<&str>) -> Result<Option<u32>, ApiError> {
    n.map(|n| {
        n.parse()
            .map_err(|_| ApiError::PaginationNumberInvalid(n.to_owned()))
    })
    .transpose()
}

fn next_link(path: &str, n: Option<u32>, page: &Page) -> Option<String> {
    let last = page.next.as_deref()?;
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    Some(match n {
        Some(n) => format!("<{path}?n={n}&last={last}>; rel=\"next\""),
        None => format!("<{path}?last={last}>; rel=\"next\""),
    })
}

fn listing(body: Value, link: Option<String>) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(link) = link {
        response
            .headers_mut()
            .insert(header::LINK, header_value(&link));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::ACCEPT, value.parse().unwrap());
            }
            headers
        };
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        assert!(accepts(&with(&[]), docker));
        assert!(accepts(
            &with(&["application/vnd.oci.image.manifest.v1+json", docker]),
            docker
        ));
        assert!(accepts(
            &with(&[&format!("{OCI_INDEX}, {docker};q=0.5")]),
            docker
        ));
        assert!(accepts(&with(&["*/*"]), docker));
        assert!(!accepts(&with(&[OCI_INDEX]), docker));
    }
}
