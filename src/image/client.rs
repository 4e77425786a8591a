//! A small client of the OCI Distribution API for the CLI tools: blobs, manifests, cross-
//! repository mounts, and Docker's authentication (Basic, or Bearer tokens from the realm a
//! registry's `WWW-Authenticate` challenge names, requested with the credentials from the Docker
//! config).
//!
//! Loopback registries are tried over HTTPS first (any certificate accepted) and fall back to
//! plain HTTP, as Docker treats insecure registries; any other registry needs `insecure` for
//! that.

use std::io::Read;
use std::sync::Mutex;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header;

use super::credentials::{self, Credentials};
use super::{Error, media};
use crate::oci::digest::{Algorithm, Digest};
use crate::oci::spec::{Descriptor, Document};

/// What `Accept` says when fetching a manifest: every manifest type berth reads.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// A registry connection with its credentials and the scopes tokens are asked for.
pub struct Client {
    http: Http,
    registry: String,
    base: String,
    credentials: Option<Credentials>,
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
}

/// A manifest as fetched: its media type, bytes and digest.
pub struct Manifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Manifest {
    /// The manifest or index the bytes hold.
    pub fn document(&self) -> Result<Document, Error> {
        Document::parse(&self.media_type, &self.bytes)
            .map_err(|e| Error::Invalid(format!("manifest {}: {e}", self.digest)))
    }
}

/// `repository:<name>:pull` or `…:pull,push`, the scopes a token is requested for.
pub fn scope(repository: &str, push: bool) -> String {
    let actions = if push { "pull,push" } else { "pull" };
    format!("repository:{repository}:{actions}")
}

fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    };
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

impl Client {
    /// Connects to `registry` (`host[:port]`), choosing the scheme and answering the
    /// authentication challenge of `/v2/` with tokens for `scopes`.
    pub fn connect(registry: &str, scopes: Vec<String>, insecure: bool) -> Result<Client, Error> {
        // Like Docker with an insecure registry: HTTPS with any certificate first, then HTTP.
        let lenient = insecure || is_loopback(registry);
        let http = Http::builder()
            .danger_accept_invalid_certs(lenient)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .timeout(None)
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|source| Error::Http {
                url: registry.to_owned(),
                source,
            })?;
        let mut client = Client {
            http,
            registry: registry.to_owned(),
            base: format!("https://{registry}"),
            credentials: credentials::lookup(registry)?,
            scopes,
            authorization: Mutex::new(None),
        };
        let probe = match client.http.get(client.url("/v2/")).send() {
            Ok(response) => response,
            Err(_) if lenient => {
                client.base = format!("http://{registry}");
                let url = client.url("/v2/");
                client
                    .http
                    .get(&url)
                    .send()
                    .map_err(|source| Error::Http { url, source })?
            }
            Err(source) => {
                return Err(Error::Http {
                    url: client.url("/v2/"),
                    source,
                });
            }
        };
        if probe.status() == StatusCode::UNAUTHORIZED {
            client.authenticate(&probe)?;
        }
        Ok(client)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers a 401's challenge: Basic with the credentials, or a Bearer token from the realm.
    fn authenticate(&self, response: &Response) -> Result<(), Error> {
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let auth_error = |message: String| Error::Auth {
            registry: self.registry.clone(),
            message,
        };
        let (scheme, params) = challenge.split_once(' ').unwrap_or((&challenge, ""));
        let value = if scheme.eq_ignore_ascii_case("basic") {
            let credentials = self.credentials.as_ref().ok_or_else(|| {
                auth_error("the registry wants a login (run `docker login`)".into())
            })?;
            format!("Basic {}", basic(credentials))
        } else if scheme.eq_ignore_ascii_case("bearer") {
            format!("Bearer {}", self.token(&parse_params(params))?)
        } else {
            return Err(auth_error(format!("unsupported challenge {challenge:?}")));
        };
        *self.authorization.lock().unwrap() = Some(value);
        Ok(())
    }

    /// A token from the challenge's realm for the client's scopes and the challenge's own.
    fn token(&self, params: &[(String, String)]) -> Result<String, Error> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let realm = get("realm").ok_or_else(|| Error::Auth {
            registry: self.registry.clone(),
            message: "Bearer challenge without a realm".into(),
        })?;
        let mut scopes = self.scopes.clone();
        if let Some(scope) = get("scope") {
            scopes.extend(scope.split(' ').map(str::to_owned));
        }
        scopes.sort();
        scopes.dedup();
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(service) = get("service") {
            query.append_pair("service", service);
        }
        let request = match self
            .credentials
            .as_ref()
            .and_then(|c| c.identity_token.as_deref())
        {
            // The OAuth2 form: the refresh token `docker login` kept, exchanged by POST.
            Some(refresh_token) => {
                query
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh_token)
                    .append_pair("client_id", "berth")
                    .append_pair("scope", &scopes.join(" "));
                self.http
                    .post(realm)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(query.finish())
            }
            None => {
                for scope in &scopes {
                    query.append_pair("scope", scope);
                }
                let request = self.http.get(format!("{realm}?{}", query.finish()));
                match &self.credentials {
                    Some(credentials) => {
                        request.basic_auth(&credentials.username, Some(&credentials.password))
                    }
                    None => request,
                }
            }
        };
        let response = request.send().map_err(|source| Error::Http {
            url: realm.to_owned(),
            source,
        })?;
        if !response.status().is_success() {
            return Err(Error::Auth {
                registry: self.registry.clone(),
                message: format!("token request answered {}", response.status()),
            });
        }
        let body: serde_json::Value = response.json().map_err(|source| Error::Http {
            url: realm.to_owned(),
            source,
        })?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Auth {
                registry: self.registry.clone(),
                message: "the token response holds no token".into(),
            })
    }

    /// Sends a request built by `make`, answering one 401 by authenticating and sending again.
    fn send(
        &self,
        method: &str,
        url: &str,
        make: impl Fn(&Http) -> Result<RequestBuilder, Error>,
    ) -> Result<Response, Error> {
        let mut retried = false;
        loop {
            let mut request = make(&self.http)?;
            if let Some(value) = self.authorization.lock().unwrap().clone() {
                request = request.header(header::AUTHORIZATION, value);
            }
            let response = request.send().map_err(|source| Error::Http {
                url: url.to_owned(),
                source,
            })?;
            if response.status() == StatusCode::UNAUTHORIZED && !retried {
                self.authenticate(&response)?;
                retried = true;
                continue;
            }
            if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
                return Ok(response);
            }
            return Err(registry_error(method, url, response));
        }
    }

    /// Whether the repository holds the blob.
    pub fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, Error> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self.send("HEAD", &url, |http| Ok(http.head(&url)))?;
        Ok(response.status().is_success())
    }

    /// Mounts a blob from another repository of the same registry; `false` when the registry
    /// would not (the caller then uploads it).
    pub fn mount_blob(&self, repository: &str, digest: &Digest, from: &str) -> Result<bool, Error> {
        let url = self.url(&format!(
            "/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"
        ));
        let response = self.send("POST", &url, |http| Ok(http.post(&url)))?;
        if response.status() == StatusCode::CREATED {
            return Ok(true);
        }
        // 202: a fresh session instead of a mount; cancel it, the upload opens its own.
        if let Some(location) = location(&response) {
            let url = self.resolve(&location);
            let _ = self.send("DELETE", &url, |http| Ok(http.delete(&url)));
        }
        Ok(false)
    }

    /// Uploads the blob `descriptor` (POST, then one streamed PUT of what `open` reads; `open`
    /// is called again if the PUT has to be repeated after authenticating).
    pub fn push_blob<R: Read + Send + 'static>(
        &self,
        repository: &str,
        descriptor: &Descriptor,
        open: impl Fn() -> Result<R, Error>,
    ) -> Result<(), Error> {
        let url = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let response = self.send("POST", &url, |http| Ok(http.post(&url)))?;
        let location = location(&response).ok_or_else(|| {
            Error::Invalid(format!("POST {url}: the registry sent no upload Location"))
        })?;
        let upload = self.resolve(&location);
        let separator = if upload.contains('?') { '&' } else { '?' };
        let url = format!("{upload}{separator}digest={}", descriptor.digest());
        let response = self.send("PUT", &url, |http| {
            let body = open()?;
            Ok(http
                .put(&url)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::blocking::Body::sized(body, descriptor.size())))
        })?;
        if response.status() != StatusCode::CREATED {
            return Err(registry_error("PUT", &url, response));
        }
        Ok(())
    }

    /// The blob's bytes as a stream; the caller verifies the digest while reading.
    pub fn fetch_blob(&self, repository: &str, digest: &Digest) -> Result<Response, Error> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self.send("GET", &url, |http| Ok(http.get(&url)))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(registry_error("GET", &url, response));
        }
        Ok(response)
    }

    /// Fetches a manifest by tag or digest, verifying it when fetched by digest.
    pub fn fetch_manifest(&self, repository: &str, reference: &str) -> Result<Manifest, Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self.send("GET", &url, |http| {
            Ok(http.get(&url).header(header::ACCEPT, MANIFEST_ACCEPT))
        })?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(registry_error("GET", &url, response));
        }
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or(media::OCI_MANIFEST)
            .to_owned();
        let mut bytes = vec![];
        response
            .take(4 << 20)
            .read_to_end(&mut bytes)
            .map_err(Error::io(format!("reading {url}")))?;
        // By digest: the bytes must have it, in its own algorithm. By tag: sha256, as
        // registries name manifests.
        let expected = reference.parse::<Digest>().ok();
        let algorithm = expected
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &bytes);
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(Error::DigestMismatch {
                what: url,
                expected,
                actual: digest,
            });
        }
        Ok(Manifest {
            media_type,
            bytes,
            digest,
        })
    }

    /// Stores a manifest under a tag or its digest.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self.send("PUT", &url, |http| {
            Ok(http
                .put(&url)
                .header(header::CONTENT_TYPE, media_type)
                .body(bytes.to_vec()))
        })?;
        if response.status() != StatusCode::CREATED {
            return Err(registry_error("PUT", &url, response));
        }
        Ok(())
    }

    /// An absolute URL for a `Location` the registry sent (possibly relative).
    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            self.url(location)
        }
    }
}

fn location(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn basic(credentials: &Credentials) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.username, credentials.password))
}

/// The error a registry answered, with the message of its OCI error body when it sent one.
fn registry_error(method: &str, url: &str, response: Response) -> Error {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().unwrap_or_default();
    let message = match body["errors"].as_array().and_then(|errors| errors.first()) {
        Some(error) => format!(
            "{} {}",
            error["code"].as_str().unwrap_or_default(),
            error["message"].as_str().unwrap_or_default()
        ),
        None => "no OCI error body".to_owned(),
    };
    Error::Registry {
        method: method.to_owned(),
        url: url.to_owned(),
        status,
        message,
    }
}

/// The `key="value"` pairs of a challenge, quoted values may hold commas.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = vec![];
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.push((key, value.to_owned()));
        rest = next.trim_start_matches(',').trim();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let params = parse_params(
            r#"realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            params[0],
            ("realm".into(), "https://auth.example/token".into())
        );
        assert_eq!(
            params[2],
            ("scope".into(), "repository:a/b:pull,push".into())
        );
        assert!(
            is_loopback("127.0.0.1:5000") && is_loopback("localhost") && !is_loopback("ghcr.io")
        );
    }
}
